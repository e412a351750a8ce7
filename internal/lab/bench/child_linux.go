package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the child when the bench process dies,
// however it dies (as internal/testenv does for the tests' serve).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
