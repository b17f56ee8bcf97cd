// ELF and ar parsing over bytes in memory. Every read goes through Bytes, which checks
// bounds, so a truncated file gives a partial answer instead of undefined behaviour. The
// dynamic section's strings are found the way ld.so finds them: DT_STRTAB is a virtual
// address, mapped to a file offset through the PT_LOAD segments (section headers may be
// stripped; the program headers are what the loader uses).

#include "platform/elf.hpp"

#include "util/strings.hpp"

#include <fmt/format.h>

#include <fstream>
#include <iterator>

namespace xb {

namespace {

constexpr std::uint16_t k_et_rel = 1, k_et_exec = 2, k_et_dyn = 3;
constexpr std::uint32_t k_pt_load = 1, k_pt_dynamic = 2, k_pt_interp = 3;
constexpr std::uint64_t k_dt_needed = 1, k_dt_strtab = 5, k_dt_strsz = 10, k_dt_soname = 14, k_dt_rpath = 15,
                        k_dt_runpath = 29, k_dt_flags_1 = 0x6ffffffb;
constexpr std::uint64_t k_df_1_pie = 0x08000000;

/// Bounds-checked little/big-endian reads from a byte range.
struct Bytes {
  std::string_view b;
  bool le = true;
  bool has(std::uint64_t off, std::uint64_t n) const { return off <= b.size() && n <= b.size() - off; }
  std::uint64_t get(std::uint64_t off, int n) const {
    if (!has(off, static_cast<std::uint64_t>(n))) return 0;
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
      auto byte = static_cast<std::uint64_t>(static_cast<unsigned char>(b[off + (le ? n - 1 - i : i)]));
      v = (v << 8) | byte;
    }
    return v;
  }
  /// The NUL-terminated string at `off`, "" when out of range.
  std::string str(std::uint64_t off) const {
    if (off >= b.size()) return {};
    auto end = b.find('\0', off);
    if (end == std::string_view::npos) return {};
    return std::string(b.substr(off, end - off));
  }
};

struct Segment {
  std::uint32_t type = 0;
  std::uint64_t offset = 0, vaddr = 0, filesz = 0;
};

std::vector<std::string> split_path(const std::string& s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  for (auto& part : split(s, ':')) out.push_back(part);
  return out;
}

void read_dynamic(const Bytes& r, bool is64, const std::vector<Segment>& segs, ElfInfo& info, bool& pie_flag) {
  const Segment* dyn = nullptr;
  for (const auto& s : segs)
    if (s.type == k_pt_dynamic) dyn = &s;
  if (!dyn) return;
  int w = is64 ? 8 : 4;
  std::uint64_t strtab = 0, strsz = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;
  for (std::uint64_t off = dyn->offset; off + 2 * w <= dyn->offset + dyn->filesz && r.has(off, 2 * w); off += 2 * w) {
    std::uint64_t tag = r.get(off, w), val = r.get(off + w, w);
    if (tag == 0) break;
    if (tag == k_dt_strtab) strtab = val;
    else if (tag == k_dt_strsz) strsz = val;
    else if (tag == k_dt_flags_1) pie_flag = (val & k_df_1_pie) != 0;
    else entries.emplace_back(tag, val);
  }
  // DT_STRTAB is an address: find the loaded segment that holds it.
  std::optional<std::uint64_t> str_off;
  for (const auto& s : segs) {
    if (s.type == k_pt_load && strtab >= s.vaddr && strtab < s.vaddr + s.filesz) {
      str_off = s.offset + (strtab - s.vaddr);
      break;
    }
  }
  if (!str_off) return;
  Bytes strings{r.b.substr(std::min<std::uint64_t>(*str_off, r.b.size()), strsz ? strsz : std::string_view::npos), r.le};
  for (const auto& [tag, val] : entries) {
    std::string s = strings.str(val);
    if (tag == k_dt_needed) info.needed.push_back(s);
    else if (tag == k_dt_soname) info.soname = s;
    else if (tag == k_dt_runpath) info.runpath = split_path(s);
    else if (tag == k_dt_rpath) info.rpath = split_path(s);
  }
}

std::string read_file(const std::filesystem::path& path, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::string out(limit, '\0');
  in.read(out.data(), static_cast<std::streamsize>(limit));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

std::string read_whole(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool is_elf_magic(std::string_view b) { return b.size() >= 4 && b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F'; }

}  // namespace

std::optional<ElfInfo> parse_elf(std::string_view bytes) {
  if (bytes.size() < 40 || !is_elf_magic(bytes)) return std::nullopt;
  ElfInfo info;
  bool is64 = bytes[4] == 2;
  info.elf_class = is64 ? 64 : 32;
  info.little_endian = bytes[5] != 2;
  Bytes r{bytes, info.little_endian};
  auto type = static_cast<std::uint16_t>(r.get(16, 2));
  info.machine = static_cast<std::uint16_t>(r.get(18, 2));
  // armhf and armel are both EM_ARM/32/LSB; e_flags tells their float ABI apart:
  // EF_ARM_ABI_FLOAT_HARD 0x400, EF_ARM_ABI_FLOAT_SOFT 0x200. Go sets neither.
  std::uint64_t flags = r.get(is64 ? 48 : 36, 4);
  if (info.machine == 40 && !is64 && info.little_endian) info.arm_float_abi = (flags & 0x400) ? 2 : (flags & 0x200) ? 1 : 0;

  std::uint64_t phoff = r.get(is64 ? 32 : 28, is64 ? 8 : 4);
  std::uint64_t phentsize = r.get(is64 ? 54 : 42, 2), phnum = r.get(is64 ? 56 : 44, 2);
  std::vector<Segment> segs;
  if (phentsize >= (is64 ? 56u : 32u)) {
    for (std::uint64_t i = 0; i < phnum && r.has(phoff + i * phentsize, phentsize); ++i) {
      std::uint64_t p = phoff + i * phentsize;
      Segment s;
      s.type = static_cast<std::uint32_t>(r.get(p, 4));
      s.offset = r.get(p + (is64 ? 8 : 4), is64 ? 8 : 4);
      s.vaddr = r.get(p + (is64 ? 16 : 8), is64 ? 8 : 4);
      s.filesz = r.get(p + (is64 ? 32 : 16), is64 ? 8 : 4);
      segs.push_back(s);
      if (s.type == k_pt_interp && r.has(s.offset, s.filesz)) info.interpreter = r.str(s.offset);
    }
  }
  bool pie_flag = false;
  read_dynamic(r, is64, segs, info, pie_flag);
  if (type == k_et_rel) info.linking = ElfLinking::object;
  else if (!info.interpreter.empty()) info.linking = ElfLinking::dynamic;
  else if (type == k_et_exec) info.linking = ElfLinking::static_exe;
  else if (type == k_et_dyn) info.linking = pie_flag ? ElfLinking::static_pie : ElfLinking::shared;
  return info;
}

std::optional<ElfInfo> read_elf(const std::filesystem::path& path) {
  if (!is_elf_magic(read_file(path, 4))) return std::nullopt;
  return parse_elf(read_whole(path));
}

namespace {

constexpr std::string_view k_go_magic = "\xff Go buildinf:";

/// The file offset of the .go.buildinfo section from the section headers, if any.
std::optional<std::uint64_t> go_section_offset(const Bytes& r, bool is64) {
  std::uint64_t shoff = r.get(is64 ? 40 : 32, is64 ? 8 : 4);
  std::uint64_t shentsize = r.get(is64 ? 58 : 46, 2), shnum = r.get(is64 ? 60 : 48, 2), shstrndx = r.get(is64 ? 62 : 50, 2);
  if (shoff == 0 || shentsize < (is64 ? 64u : 40u) || shstrndx >= shnum) return std::nullopt;
  auto field = [&](std::uint64_t i, int off64, int off32) {
    return r.get(shoff + i * shentsize + (is64 ? off64 : off32), is64 ? 8 : 4);
  };
  std::uint64_t names = field(shstrndx, 24, 16);
  for (std::uint64_t i = 0; i < shnum && r.has(shoff + i * shentsize, shentsize); ++i) {
    std::uint64_t name = r.get(shoff + i * shentsize, 4);
    if (r.str(names + name) == ".go.buildinfo") return field(i, 24, 16);
  }
  return std::nullopt;
}

/// A uvarint-prefixed string at `off` (advanced past it); nullopt when out of bounds.
std::optional<std::string> go_string(std::string_view b, std::uint64_t& off) {
  std::uint64_t n = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (off >= b.size()) return std::nullopt;
    auto c = static_cast<unsigned char>(b[off++]);
    n |= static_cast<std::uint64_t>(c & 0x7f) << shift;
    if (!(c & 0x80)) break;
  }
  if (n > b.size() - off) return std::nullopt;
  std::string s(b.substr(off, n));
  off += n;
  return s;
}

}  // namespace

std::optional<GoBuildInfo> parse_go_buildinfo(std::string_view bytes) {
  if (bytes.size() < 64 || !is_elf_magic(bytes)) return std::nullopt;
  bool is64 = bytes[4] == 2;
  Bytes r{bytes, bytes[5] != 2};
  std::optional<std::uint64_t> at = go_section_offset(r, is64);
  if (!at || !r.has(*at, 32) || bytes.substr(*at, k_go_magic.size()) != k_go_magic) {
    at.reset();
    for (std::size_t off = bytes.find(k_go_magic); off != std::string_view::npos; off = bytes.find(k_go_magic, off + 1))
      if (off % 16 == 0) {
        at = off;
        break;
      }
  }
  if (!at || !r.has(*at, 32)) return std::nullopt;
  auto flags = static_cast<unsigned char>(bytes[*at + 15]);
  if (!(flags & 2)) return std::nullopt;  // before Go 1.18: pointers into the data segment
  std::uint64_t off = *at + 32;
  auto version = go_string(bytes, off);
  auto modinfo = go_string(bytes, off);
  if (!version || !modinfo) return std::nullopt;
  GoBuildInfo info;
  info.go_version = *version;
  // modinfo is framed by 16-byte sentinels; the lines are tab-separated fields.
  std::string_view text = *modinfo;
  if (text.size() >= 33 && text[text.size() - 17] == '\n') text = text.substr(16, text.size() - 32);
  GoModule* last = nullptr;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    std::vector<std::string> f;
    for (std::string_view rest = line;;) {
      auto tab = rest.find('\t');
      f.emplace_back(rest.substr(0, tab));
      if (tab == std::string_view::npos) break;
      rest.remove_prefix(tab + 1);
    }
    auto at_ = [&](std::size_t i) { return i < f.size() ? f[i] : std::string(); };
    if (f[0] == "path") info.path = at_(1);
    else if (f[0] == "mod") {
      info.main = GoModule{at_(1), at_(2), at_(3), "", ""};
      last = &*info.main;
    } else if (f[0] == "dep") {
      info.deps.push_back(GoModule{at_(1), at_(2), at_(3), "", ""});
      last = &info.deps.back();
    } else if (f[0] == "=>" && last) {
      last->replaced_by = at_(1);
      last->replacement_version = at_(2);
      if (!at_(3).empty()) last->sum = at_(3);
    }
  }
  return info;
}

std::optional<GoBuildInfo> read_go_buildinfo(const std::filesystem::path& path) {
  if (!is_elf_magic(read_file(path, 4))) return std::nullopt;
  return parse_go_buildinfo(read_whole(path));
}

bool is_ar_archive(std::string_view bytes) { return bytes.substr(0, 8) == "!<arch>\n"; }

std::vector<ArchiveMember> parse_ar(std::string_view bytes) {
  std::vector<ArchiveMember> out;
  if (!is_ar_archive(bytes)) return out;
  std::string_view long_names;
  std::size_t off = 8;
  while (off + 60 <= bytes.size()) {
    std::string_view hdr = bytes.substr(off, 60);
    if (hdr.substr(58, 2) != "`\n") break;  // not a member header: stop rather than guess
    std::string name(trim(hdr.substr(0, 16)));
    std::string size_text(trim(hdr.substr(48, 10)));
    std::size_t size = 0;
    for (char c : size_text) {
      if (c < '0' || c > '9') return out;
      size = size * 10 + static_cast<std::size_t>(c - '0');
    }
    std::size_t data = off + 60;
    if (size > bytes.size() - data) break;
    std::string_view body = bytes.substr(data, size);
    off = data + size + (size & 1);
    if (name == "/" || name == "/SYM64/" || name == "__.SYMDEF" || name == "__.SYMDEF SORTED") continue;
    if (name == "//") {
      long_names = body;
      continue;
    }
    if (name.size() > 1 && name[0] == '/' && name.find_first_not_of("0123456789", 1) == std::string::npos) {
      std::size_t at = std::stoul(name.substr(1));
      if (at < long_names.size()) {
        auto end = long_names.find_first_of("/\n", at);
        name = std::string(long_names.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at));
      }
    } else if (!name.empty() && name.back() == '/') {
      name.pop_back();
    }
    out.push_back({name, parse_elf(body)});
  }
  return out;
}

std::vector<ArchiveMember> read_ar(const std::filesystem::path& path) {
  if (!is_ar_archive(read_file(path, 8))) return {};
  return parse_ar(read_whole(path));
}

const std::vector<std::string>& library_search_path(const ElfInfo& info) {
  return info.runpath.empty() ? info.rpath : info.runpath;
}

std::string_view to_string(ElfLinking l) {
  switch (l) {
    case ElfLinking::object: return "object";
    case ElfLinking::static_exe: return "static";
    case ElfLinking::static_pie: return "static-pie";
    case ElfLinking::dynamic: return "dynamic";
    case ElfLinking::shared: return "shared";
    case ElfLinking::other: break;
  }
  return "other";
}

std::string describe(const ElfInfo& info) {
  std::string name = fmt::format("machine {}", info.machine);
  for (const auto& t : arch_table()) {
    if (t.elf_machine == info.machine && t.elf_class == info.elf_class) {
      name = std::string(t.uname_machine == "armv7l" ? "arm" : t.uname_machine);
      break;
    }
  }
  std::string abi = info.arm_float_abi == 2 ? " hard-float (armhf)" : info.arm_float_abi == 1 ? " soft-float (armel)" : "";
  return fmt::format("ELF {}-bit {} {}{}", info.elf_class, info.little_endian ? "LSB" : "MSB", name, abi);
}

ElfInfo expected_elf(const Platform& p) {
  const auto& t = p.traits();
  ElfInfo info;
  info.machine = t.elf_machine;
  info.elf_class = t.elf_class;
  info.little_endian = t.little_endian;
  info.arm_float_abi = p.arch == "arm" ? (p.variant == "v6" ? 1 : 2) : 0;
  return info;
}

bool elf_matches(const ElfInfo& info, const Platform& p) {
  auto want = expected_elf(p);
  bool abi_ok = info.arm_float_abi == 0 || want.arm_float_abi == 0 || info.arm_float_abi == want.arm_float_abi;
  return info.machine == want.machine && info.elf_class == want.elf_class &&
         info.little_endian == want.little_endian && abi_ok;
}

}  // namespace xb
