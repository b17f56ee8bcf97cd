package main

import (
	"fmt"
	"runtime"
	"syscall"
)

func main() {
	var u syscall.Utsname
	machine := "unknown"
	if err := syscall.Uname(&u); err == nil {
		b := make([]byte, 0, len(u.Machine))
		for _, c := range u.Machine {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		machine = string(b)
	}
	fmt.Printf("hello from go: built for %s, running on %s\n", runtime.GOARCH, machine)
}
