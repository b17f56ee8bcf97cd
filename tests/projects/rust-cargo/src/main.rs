fn main() {
    println!("hello from rust: built for {}", std::env::consts::ARCH);
}

#[cfg(test)]
mod tests {
    /// The test binary must be the target's: TARGETARCH names it the Docker way.
    #[test]
    fn runs_as_target() {
        let target = std::env::var("TARGETARCH").expect("TARGETARCH is set by xbuild test");
        let want = match target.as_str() {
            "amd64" => "x86_64",
            "arm64" => "aarch64",
            "arm" => "arm",
            "riscv64" => "riscv64",
            other => other,
        };
        assert_eq!(std::env::consts::ARCH, want, "test binary is {}, target is {}", std::env::consts::ARCH, target);
        println!("test binary ran as {}", std::env::consts::ARCH);
    }
}
