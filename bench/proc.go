package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process in its own process group, so stop ends it and
// everything it forked (nginx's workers), and the kernel signals it if the
// bench dies first (Pdeathsig).
type proc struct {
	name    string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // Wait's error, valid after done
	logFile string        // stdout and stderr
}

// startProc starts path with args and env (added to a minimal environment)
// in dir. Its stdout and stderr go to a file in dir, written by the child
// itself, so a chatty process (the emulator logs every request) costs the
// bench nothing. When lines is not nil, stderr goes through a pipe instead
// and each line is handed to lines (the gateway's breaker events) and
// appended to the file. deathSig is what the process gets if the bench
// dies without stopping it: SIGKILL for a single process; SIGTERM for
// nginx, whose master then stops its workers (killed, it would leave them
// running).
func startProc(name, path string, args, env []string, dir string, deathSig syscall.Signal, lines func(string)) (*proc, error) {
	f, err := os.CreateTemp(dir, strings.ReplaceAll(name, " ", "-")+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), logFile: f.Name()}
	cmd.Stdout, cmd.Stderr = f, f
	var pw *io.PipeWriter
	var scanned chan struct{}
	if lines != nil {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		cmd.Stderr = pw
		scanned = make(chan struct{})
		go func() {
			defer close(scanned)
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				lines(sc.Text())
				_, _ = fmt.Fprintln(f, sc.Text())
			}
			_, _ = io.Copy(f, pr)
		}()
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		if pw != nil {
			_ = pw.Close()
		}
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		if pw != nil {
			_ = pw.Close()
			<-scanned
		}
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// logs is the end of the process's output, for error reports.
func (p *proc) logs() string {
	b, err := os.ReadFile(p.logFile)
	if err != nil {
		return ""
	}
	const keep = 8 << 10
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(b)
}

// pid is the process's id (nginx: the master's).
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after a grace
// period, and waits for the process to exit.
func (p *proc) stop() {
	if p == nil || p.exited() {
		return
	}
	pgid := p.pid()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Stragglers in the group (a worker that outlived its master).
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// tree is the process and its children (nginx's workers).
func (p *proc) tree() []int {
	pids := []int{p.pid()}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return pids
	}
	want := strconv.Itoa(p.pid())
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fields, err := statFields(n)
		if err != nil || len(fields) < 2 {
			continue
		}
		if fields[1] == want { // field 4, ppid
			pids = append(pids, n)
		}
	}
	return pids
}

// statFields returns /proc/<pid>/stat after the command name, so fields[0]
// is the state (field 3 of proc(5)).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, errors.New("malformed stat")
	}
	return strings.Fields(string(b[i+1:])), nil
}

// clockTicks is USER_HZ, 100 on every Linux the bench runs on.
const clockTicks = 100

// cpuSeconds is the user+system CPU time the process tree has used so far.
func (p *proc) cpuSeconds() float64 {
	var ticks int64
	for _, pid := range p.tree() {
		f, err := statFields(pid)
		if err != nil || len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64) // utime, field 14
		s, _ := strconv.ParseInt(f[12], 10, 64) // stime, field 15
		ticks += u + s
	}
	return float64(ticks) / clockTicks
}

// peakRSS is the sum of VmHWM (peak resident set) over the process tree, in
// bytes. For nginx it counts the shared pages of master and workers once
// per process, so it overstates nginx a little.
func (p *proc) peakRSS() int64 { return p.statusBytes("VmHWM:") }

// rss is the sum of VmRSS (resident set now) over the process tree.
func (p *proc) rss() int64 { return p.statusBytes("VmRSS:") }

func (p *proc) statusBytes(field string) int64 {
	var total int64
	for _, pid := range p.tree() {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, field); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				total += kb << 10
			}
		}
	}
	return total
}

// freePorts asks the kernel for n distinct free ports on 127.0.0.1 (all
// held open until every one is chosen, so none comes back twice).
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func freePort() (int, error) {
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// waitFor calls ok until it returns true, the process exits or the time
// runs out.
func waitFor(ctx context.Context, p *proc, what string, ok func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if ok() {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited before %s: %v\n%s", p.name, what, p.err, p.logs())
		}
		select {
		case <-ctx.Done():
			msg := ""
			if p != nil {
				msg = "\n" + p.logs()
			}
			return fmt.Errorf("waiting for %s: %w%s", what, ctx.Err(), msg)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
