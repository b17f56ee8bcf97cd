// Prints the architecture it was built for and the machine it runs on (uname), without crates.

#[repr(C)]
struct UtsName {
    sysname: [u8; 65],
    nodename: [u8; 65],
    release: [u8; 65],
    version: [u8; 65],
    machine: [u8; 65],
    domainname: [u8; 65],
}

extern "C" {
    fn uname(buf: *mut UtsName) -> i32;
}

fn machine() -> String {
    let mut u = UtsName {
        sysname: [0; 65],
        nodename: [0; 65],
        release: [0; 65],
        version: [0; 65],
        machine: [0; 65],
        domainname: [0; 65],
    };
    if unsafe { uname(&mut u) } != 0 {
        return "unknown".to_string();
    }
    let end = u.machine.iter().position(|&c| c == 0).unwrap_or(65);
    String::from_utf8_lossy(&u.machine[..end]).into_owned()
}

fn main() {
    println!("hello from rust: built for {}, running on {}", std::env::consts::ARCH, machine());
}
