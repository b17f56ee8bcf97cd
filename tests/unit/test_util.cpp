// util/ is generic code every stage leans on, so its contracts are tested here with real
// files, real threads and a real shell, and with the odd inputs (empty, quotes, newlines).

#include "exec/subprocess.hpp"
#include "util/base64.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/parallel.hpp"
#include "util/retry.hpp"
#include "util/strings.hpp"
#include "util/temp.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace xb;
namespace fs = std::filesystem;

namespace {

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

const std::vector<std::string> k_odd = {
  "", "plain", "with space", "  leading and trailing  ", "it's", "'", "''", "'a'b'", "\"double\"",
  "$HOME", "${PATH}", "$(id)", "`id`", "back\\slash", "\\'", "a\nb", "\n", "tab\there", "*", "?", "[a]",
  "~", "~root", "-n", "--", "!", "!!", "a;b", "a&&b", "a|b", "<x>", "#comment", "%s", "é ü 日本",
  "x=y", "end\\",
};

Result<std::string> run_argv(std::vector<std::string> argv) {
  Command cmd{std::move(argv), {}, {}};
  Captured c = capture(cmd);
  if (!c.ok()) return Result<std::string>::failure(c.failure(cmd));
  return c.output;
}

}  // namespace

TEST_CASE("util::strings") {
  CHECK(split(" a, b ,,c ", ',') == std::vector<std::string>{"a", "b", "c"});
  CHECK(split("", ',').empty());
  CHECK(to_lower("AbC-1") == "abc-1");
  CHECK(trim("  x y \n") == "x y");
  CHECK(trim("   ").empty());
  CHECK(join({"a", "b", "c"}, ", ") == "a, b, c");
  CHECK(join({}, ", ").empty());
  CHECK(replace_all("aaa", "a", "aa") == "aaaaaa");
  CHECK(replace_all("x{a}y{a}", "{a}", "") == "xy");
  CHECK(replace_all("abc", "", "z") == "abc");
}

TEST_CASE("util::shell_quote survives a real shell, once and nested") {
  CHECK(shell_quote("") == "''");
  CHECK(shell_quote("plain") == "'plain'");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(shell_command({}).empty());
  std::vector<std::string> shells = {"/bin/sh"};
  if (fs::exists("/bin/bash")) shells.push_back("/bin/bash");
  for (const auto& shell : shells) {
    for (const auto& word : k_odd) {
      CAPTURE(shell);
      CAPTURE(word);
      auto once = run_argv({shell, "-c", "printf '%s' " + shell_quote(word)});
      REQUIRE(once.ok());
      CHECK(*once == word);
      // What a runner gets: `sh -c QUOTED` where QUOTED holds quoted words itself.
      auto nested = run_argv({shell, "-c", "sh -c " + shell_quote("printf '%s' " + shell_quote(word))});
      REQUIRE(nested.ok());
      CHECK(*nested == word);
    }
  }
  SUBCASE("shell_display quotes only the words that need it, and still runs as argv") {
    CHECK(shell_display({"make", "-j4", "CC=gcc", "a b", "", "it's"}) == "make -j4 CC=gcc 'a b' '' 'it'\\''s'");
    auto r = run_argv({"/bin/sh", "-c", "printf '[%s]' " + shell_display(k_odd)});
    std::string expected;
    for (const auto& w : k_odd) expected += "[" + w + "]";
    REQUIRE(r.ok());
    CHECK(*r == expected);
  }
  SUBCASE("shell_command keeps argv boundaries") {
    auto r = run_argv({"/bin/sh", "-c", "printf '[%s]' " + shell_command(k_odd)});
    std::string expected;
    for (const auto& w : k_odd) expected += "[" + w + "]";
    REQUIRE(r.ok());
    CHECK(*r == expected);
  }
}

TEST_CASE("util::base64 (OpenSSL)") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("user:p@ss:word") == "dXNlcjpwQHNzOndvcmQ=");
  CHECK(base64_decode("dXNlcjpwQHNzOndvcmQ=") == "user:p@ss:word");
  CHECK(base64_decode("Zm8") == "fo");   // padding optional
  CHECK(base64_decode("Zg") == "f");
  CHECK(base64_decode("Zm9v\nYmFy\n") == "foobar");  // line breaks ignored
  CHECK(base64_decode("") == "");
  std::string binary("\0\xff\x10 x", 5);
  CHECK(base64_decode(base64_encode(binary)) == binary);
  CHECK_THROWS_AS(base64_decode("!!"), Error);
  CHECK_THROWS_AS(base64_decode("Z"), Error);  // a truncated group
}

TEST_CASE("util::fs read_file and write_file_atomic") {
  test::TempDir dir("util-fs");
  fs::path f = dir.path / "f.txt";
  write_file_atomic(f, "one");
  CHECK(read_file(f) == "one");
  write_file_atomic(f, std::string("two\0bytes", 9));
  CHECK(read_file(f) == std::string("two\0bytes", 9));
  CHECK(mode_of(f) == 0644);
  // Nothing is left beside the file.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++entries;
  CHECK(entries == 1);
  CHECK_THROWS_AS(read_file(dir.path / "missing"), Error);
  CHECK(read_file_if_readable(f) == std::string("two\0bytes", 9));
  CHECK_FALSE(read_file_if_readable(dir.path / "missing").has_value());
  CHECK_THROWS_AS(write_file_atomic(dir.path / "no" / "such" / "dir", "x"), Error);
}

TEST_CASE("util::Fd and lock_file") {
  test::TempDir dir("util-fd");
  int raw = ::open((dir.path / "a").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(raw >= 0);
  {
    Fd fd(raw);
    CHECK(fd);
    Fd moved(std::move(fd));
    CHECK_FALSE(fd);
    CHECK(moved.get() == raw);
  }
  CHECK(::fcntl(raw, F_GETFD) == -1);  // closed exactly once, by the owner
  Fd none;
  CHECK(none.get() == -1);
  Fd r(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int kept = r.release();
  CHECK_FALSE(r);
  CHECK(::fcntl(kept, F_GETFD) != -1);
  ::close(kept);

  SUBCASE("an flock holds as long as its Fd, and LockWait::no does not wait") {
    fs::path lock = dir.path / "lock";
    Fd held = lock_file(lock);
    REQUIRE(held);
    // Another open file description (as another process would have) cannot take it.
    CHECK_FALSE(lock_file(lock, LockWait::no));
    held.reset();
    CHECK(lock_file(lock, LockWait::no));
    Fd d = lock_file(dir.path, LockWait::no);  // a directory can be locked too
    CHECK(d);
    CHECK_THROWS_AS(lock_file(dir.path / "no" / "such" / "lock"), Error);
  }
}

TEST_CASE("util::TempFile and TempDirectory") {
  test::TempDir dir("util-temp");
  SUBCASE("private, unguessable, removed unless committed") {
    fs::path p1, p2;
    {
      TempFile a = TempFile::in(dir.path, "x-");
      TempFile b = TempFile::in(dir.path, "x-");
      p1 = a.path();
      p2 = b.path();
      CHECK(p1 != p2);
      CHECK(fs::exists(p1));
      CHECK(mode_of(p1) == 0600);
      std::string name = p1.filename().string();
      CHECK(name.rfind("x-" + std::to_string(::getpid()) + ".", 0) == 0);
      CHECK(name.size() == ("x-" + std::to_string(::getpid()) + ".XXXXXX").size());
      a.write("hello");
    }
    CHECK_FALSE(fs::exists(p1));
    CHECK_FALSE(fs::exists(p2));
  }
  SUBCASE("beside a target, committed by rename") {
    fs::path target = dir.path / "out.json";
    TempFile t = TempFile::beside(target);
    CHECK(t.path().parent_path() == dir.path);
    CHECK(t.path().filename().string().rfind(".out.json.tmp-", 0) == 0);
    t.write("{}");
    t.commit(target);
    CHECK(t.path().empty());
    CHECK(read_file(target) == "{}");
    CHECK(mode_of(target) == 0644);
  }
  SUBCASE("commit syncs what is at the path, even when a writer replaced the file") {
    fs::path target = dir.path / "blob";
    TempFile t = TempFile::in(dir.path, ".tmp-");
    write_file_atomic(dir.path / "other", "replaced");
    fs::rename(dir.path / "other", t.path());
    t.commit(target);
    CHECK(read_file(target) == "replaced");
  }
  SUBCASE("release keeps the file") {
    fs::path kept;
    {
      TempFile t = TempFile::in(dir.path, "k-");
      kept = t.release();
    }
    CHECK(fs::exists(kept));
  }
  SUBCASE("directories: 0700, removed with their contents, committed by rename") {
    fs::path p;
    {
      TempDirectory d = TempDirectory::in(dir.path, "d-");
      p = d.path();
      CHECK(fs::is_directory(p));
      CHECK(mode_of(p) == 0700);
      write_file_atomic(p / "inner", "x");
      TempDirectory moved = std::move(d);
      CHECK(d.path().empty());
      CHECK(moved.path() == p);
    }
    CHECK_FALSE(fs::exists(p));
    TempDirectory staged = TempDirectory::beside(dir.path / "layout", "xbuild");
    CHECK(staged.path().filename().string().rfind(".layout.xbuild-", 0) == 0);
    write_file_atomic(staged.path() / "index.json", "{}");
    staged.commit(dir.path / "layout");
    CHECK(read_file(dir.path / "layout" / "index.json") == "{}");
    CHECK(mode_of(dir.path / "layout") == 0755);
    TempDirectory s = TempDirectory::scratch("xb-scratch-");
    CHECK(fs::is_directory(s.path()));
  }
  SUBCASE("creation failures name the directory") {
    CHECK_THROWS_WITH_AS(TempFile::in(dir.path / "missing", "x-"), doctest::Contains("missing"), Error);
    CHECK_THROWS_AS(TempDirectory::in(dir.path / "missing", "x-"), Error);
  }
  SUBCASE("remove_stale_temps removes only what a dead process left") {
    // A child that exits gives a pid that is gone (and not reused this quickly).
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) ::_exit(0);
    int status = 0;
    ::waitpid(child, &status, 0);
    fs::create_directories(dir.path / fmt::format(".o.tmp-{}.abcdef", child));
    write_file_atomic(dir.path / fmt::format(".o.tmp-{}.ghijkl", child), "x");
    TempFile live = TempFile::beside(dir.path / "o");
    write_file_atomic(dir.path / ".o.tmp-notapid", "x");
    write_file_atomic(dir.path / "unrelated", "x");
    remove_stale_temps(dir.path, temp_prefix_beside(dir.path / "o"));
    CHECK_FALSE(fs::exists(dir.path / fmt::format(".o.tmp-{}.abcdef", child)));
    CHECK_FALSE(fs::exists(dir.path / fmt::format(".o.tmp-{}.ghijkl", child)));
    CHECK(fs::exists(live.path()));
    CHECK(fs::exists(dir.path / ".o.tmp-notapid"));
    CHECK(fs::exists(dir.path / "unrelated"));
  }
}

TEST_CASE("util::remove_stale_temps_beside and remove_tree") {
  test::TempDir dir("util-stale");
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  SUBCASE("any target's temps with the tag, only when dead and well-named") {
    fs::path a = dir.path / fmt::format(".linux_arm64-bookworm-0123.tmp-{}.Ab12Cd", child);
    fs::path b = dir.path / fmt::format(".other.tmp-{}.zzzzzz", child);
    fs::path wrong_tag = dir.path / fmt::format(".x.layout-{}.abcdef", child);
    fs::path too_long = dir.path / fmt::format(".x.tmp-{}.abcdefg", child);
    fs::path no_dot = dir.path / fmt::format("x.tmp-{}.abcdef", child);
    for (const auto& p : {a, b, wrong_tag, too_long, no_dot}) fs::create_directories(p / "rootfs");
    TempDirectory live = TempDirectory::beside(dir.path / "entry");
    remove_stale_temps_beside(dir.path, "tmp");
    CHECK_FALSE(fs::exists(a));
    CHECK_FALSE(fs::exists(b));
    CHECK(fs::exists(wrong_tag));
    CHECK(fs::exists(too_long));
    CHECK(fs::exists(no_dot));
    CHECK(fs::exists(live.path()));
  }
  SUBCASE("a tree with nothing mounted is removed") {
    CHECK(mounts_under(dir.path).empty());
    fs::create_directories(dir.path / "t" / "a" / "b");
    CHECK(remove_tree(dir.path / "t") == "");
    CHECK_FALSE(fs::exists(dir.path / "t"));
  }
  SUBCASE("a mount under the tree is detached, never emptied") {
    if (::geteuid() != 0) {
      MESSAGE("not root: cannot mount, so the detach is checked by tests/integration/test_faults.py only");
      return;
    }
    fs::path host = dir.path / "host";  // stands for /dev/shm or a host dir a chroot tool bound
    fs::create_directories(host);
    write_file_atomic(host / "precious", "keep");
    fs::path stale = dir.path / fmt::format(".e.tmp-{}.abcdef", child);
    fs::create_directories(stale / "rootfs" / "dev" / "shm");
    REQUIRE(::mount(host.c_str(), (stale / "rootfs" / "dev" / "shm").c_str(), nullptr, MS_BIND, nullptr) == 0);
    REQUIRE(mounts_under(stale).size() == 1);
    CHECK(mounts_under(stale).front() == fs::weakly_canonical(stale / "rootfs" / "dev" / "shm"));
    remove_stale_temps_beside(dir.path, "tmp");
    CHECK_FALSE(fs::exists(stale));
    CHECK(mounts_under(dir.path).empty());
    CHECK(read_file(host / "precious") == "keep");
  }
}

TEST_CASE("util::retry") {
  Backoff quick{4, std::chrono::milliseconds(0)};
  SUBCASE("retries what the predicate allows, then returns") {
    int calls = 0;
    int v = retry<std::runtime_error>(
        quick, [&] { if (++calls < 3) throw std::runtime_error("flaky"); return 42; },
        [](const std::runtime_error&, int) { return true; });
    CHECK(v == 42);
    CHECK(calls == 3);
  }
  SUBCASE("gives up after max_attempts with the last error") {
    int calls = 0;
    CHECK_THROWS_WITH(retry<std::runtime_error>(
                          quick, [&]() -> int { throw std::runtime_error("attempt " + std::to_string(++calls)); },
                          [](const std::runtime_error&, int) { return true; }),
                      "attempt 4");
    CHECK(calls == 4);
  }
  SUBCASE("a failure the predicate rejects propagates at once") {
    int calls = 0;
    std::vector<int> asked;
    CHECK_THROWS_AS(retry<std::runtime_error>(
                        quick, [&]() -> int { ++calls; throw std::runtime_error("fatal"); },
                        [&](const std::runtime_error&, int attempt) { asked.push_back(attempt); return false; }),
                    std::runtime_error);
    CHECK(calls == 1);
    CHECK(asked == std::vector<int>{1});
  }
  SUBCASE("other exception types are never retried") {
    int calls = 0;
    CHECK_THROWS_AS(retry<std::runtime_error>(
                        quick, [&]() -> int { ++calls; throw std::logic_error("bug"); },
                        [](const std::runtime_error&, int) { return true; }),
                    std::logic_error);
    CHECK(calls == 1);
  }
  SUBCASE("values can be retried, and the last one is returned") {
    int calls = 0;
    std::vector<int> asked;
    int v = retry<std::runtime_error>(
        quick, [&] { return 500 + ++calls; }, [](const std::runtime_error&, int) { return true; },
        [&](const int&, int attempt) { asked.push_back(attempt); return true; });
    CHECK(v == 504);
    CHECK(asked == std::vector<int>{1, 2, 3});  // never asked about the last attempt
  }
  SUBCASE("one attempt means no retry") {
    int calls = 0;
    CHECK_THROWS(retry<std::runtime_error>(
        Backoff{1, std::chrono::milliseconds(0)}, [&]() -> int { ++calls; throw std::runtime_error("x"); },
        [](const std::runtime_error&, int) { return true; }));
    CHECK(calls == 1);
  }
  SUBCASE("the delay doubles and is capped") {
    Backoff b{10, std::chrono::milliseconds(200)};
    CHECK(b.delay(1).count() == 200);
    CHECK(b.delay(2).count() == 400);
    CHECK(b.delay(3).count() == 800);
    CHECK(b.delay(7).count() == 200 * 64);
    CHECK(b.delay(30).count() == 200 * 64);
  }
}

TEST_CASE("util::parallel_for") {
  SUBCASE("every index exactly once, on at most `jobs` threads") {
    std::mutex m;
    std::multiset<std::size_t> seen;
    std::set<std::thread::id> threads;
    std::atomic<int> running{0}, most{0};
    parallel_for(200, 3, [&](std::size_t i) {
      int now = ++running;
      int prev = most.load();
      while (now > prev && !most.compare_exchange_weak(prev, now)) {}
      {
        std::lock_guard lock(m);
        seen.insert(i);
        threads.insert(std::this_thread::get_id());
      }
      --running;
    });
    CHECK(seen.size() == 200);
    for (std::size_t i = 0; i < 200; ++i) CHECK(seen.count(i) == 1);
    CHECK(threads.size() <= 3);
    CHECK(most.load() <= 3);
  }
  SUBCASE("each worker makes its state once") {
    std::atomic<int> made{0};
    std::atomic<int> items{0};
    parallel_for(
        50, 4, [&] { return ++made; }, [&](int&, std::size_t) { ++items; });
    CHECK(items == 50);
    CHECK(made >= 1);
    CHECK(made <= 4);
  }
  SUBCASE("nothing to do, and jobs below one, still work") {
    int calls = 0;
    parallel_for(0, 4, [&](std::size_t) { ++calls; });
    CHECK(calls == 0);
    parallel_for(5, 0, [&](std::size_t) { ++calls; });
    CHECK(calls == 5);
  }
  SUBCASE("the first exception is rethrown after every thread joined") {
    CHECK_THROWS_WITH(parallel_for(100, 4,
                                   [&](std::size_t i) {
                                     if (i == 3) throw std::runtime_error("item 3 failed");
                                   }),
                      "item 3 failed");
  }
  SUBCASE("after a failure no new item starts") {
    std::vector<std::size_t> started;  // one worker: the order is the index order
    CHECK_THROWS(parallel_for(10, 1, [&](std::size_t i) {
      started.push_back(i);
      if (i == 3) throw std::runtime_error("stop");
    }));
    CHECK(started == std::vector<std::size_t>{0, 1, 2, 3});
  }
  SUBCASE("a failing make_state is the error") {
    CHECK_THROWS_WITH(parallel_for(
                          10, 2, []() -> int { throw std::runtime_error("no session"); }, [](int&, std::size_t) {}),
                      "no session");
  }
}
