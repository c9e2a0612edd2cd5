package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/stratumgo/stratum/core/mining/target"
	"github.com/stratumgo/stratum/core/noise"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
	"github.com/stratumgo/stratum/core/tpclient"
)

// templatesProcess is a running sv2 templates.
type templatesProcess struct {
	cmd    *exec.Cmd
	lines  chan string // standard output, line by line; closed at its end
	stderr *bytes.Buffer
	addr   string
	key    string // empty with --plain
}

// startTemplates runs sv2 templates with args until the test ends, and reads
// the address (and key) it prints.
func startTemplates(t *testing.T, args ...string) *templatesProcess {
	t.Helper()
	p := &templatesProcess{cmd: exec.Command(sv2Bin, append([]string{"templates"}, args...)...), lines: make(chan string, 100), stderr: &bytes.Buffer{}}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			p.lines <- s.Text()
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
	for p.addr == "" || (p.key == "" && !strings.Contains(strings.Join(args, " "), "--plain")) {
		line := p.next(t)
		if v, ok := strings.CutPrefix(line, "address: "); ok {
			p.addr = v
		} else if v, ok := strings.CutPrefix(line, "authority_pubkey: "); ok {
			p.key = v
		} else {
			t.Fatalf("unexpected line %q before the address and key", line)
		}
	}
	return p
}

// next returns the next line of standard output.
func (p *templatesProcess) next(t *testing.T) string {
	t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			t.Fatalf("sv2 templates ended its output; stderr %q", p.stderr.String())
		}
		return line
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for sv2 templates to print")
		panic("unreachable")
	}
}

// stop sends SIGTERM and returns the exit status.
func (p *templatesProcess) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range p.lines { // the output ends as the process does
	}
	err := p.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0
}

func recvWithin[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// The pool's template-distribution client (core/tpclient, over Noise with
// the printed key pinned) gets a future template and its SetNewPrevHash at
// the chosen height and nBits, and a new tip once the interval has passed.
func TestTemplatesFeedAPool(t *testing.T) {
	t.Parallel()
	const every = 400 * time.Millisecond
	start := time.Now()
	p := startTemplates(t, "--listen", "127.0.0.1:0", "--new-tip-every", every.String(), "--bits", "0x1d00ffff", "--height", "50")
	key, err := noise.ParsePublicKey(p.key)
	if err != nil {
		t.Fatalf("authority_pubkey %q: %v", p.key, err)
	}
	templates := make(chan *sv2.NewTemplate, 16)
	prevs := make(chan *sv2.TemplateSetNewPrevHash, 16)
	h := tpclient.New(tpclient.Config{
		OnTemplate: func(_ context.Context, m *sv2.NewTemplate) []service.ClientEvent {
			templates <- m
			return nil
		},
		OnPrevHash: func(_ context.Context, m *sv2.TemplateSetNewPrevHash) []service.ClientEvent {
			prevs <- m
			return nil
		},
	})
	cli, err := service.NewClientService(service.ClientConfig{TemplateDistribution: &service.UpstreamConfig{Address: p.addr, AuthorityKey: &key}}, nil, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cli.Run(ctx) }()
	defer func() {
		cancel()
		if err := recvWithin(t, done, "the client to stop"); !errors.Is(err, service.ErrStopped) {
			t.Errorf("client: %v", err)
		}
	}()

	network, _ := target.FromCompact(0x1d00ffff)
	var first *sv2.TemplateSetNewPrevHash
	for height := int64(50); height <= 51; height++ {
		tmpl := recvWithin(t, templates, "a template")
		prev := recvWithin(t, prevs, "a prev hash")
		push, _ := txscript.NewScriptBuilder().AddInt64(height).Script()
		if !tmpl.FutureTemplate || !bytes.HasPrefix(tmpl.CoinbasePrefix, push) || len(tmpl.MerklePath) != 0 {
			t.Errorf("template %+v, want a future one at height %d without transactions", tmpl, height)
		}
		if prev.TemplateID != tmpl.TemplateID || prev.NBits != 0x1d00ffff || prev.Target != network {
			t.Errorf("prev hash %+v for template %d", prev, tmpl.TemplateID)
		}
		if first == nil {
			first = prev
			continue
		}
		if prev.PrevHash == first.PrevHash || prev.TemplateID != first.TemplateID+1 {
			t.Errorf("new tip %+v is not new after %+v", prev, first)
		}
		if since := time.Since(start); since < every {
			t.Errorf("new tip after %v, before the interval of %v", since, every)
		}
	}
	// The output names each tip; the new one was sent to our client.
	for _, want := range []string{"tip: height=50 template=1 ", "tip: height=51 template=2 "} {
		if line := p.next(t); !strings.HasPrefix(line, want) {
			t.Errorf("line %q, want %q…", line, want)
		} else if strings.Contains(want, "51") && !strings.HasSuffix(line, " clients=1") {
			t.Errorf("line %q, want clients=1", line)
		}
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("SIGTERM: exit %d, want 0; stderr %q", code, p.stderr.String())
	}
}

// With --plain a client without Noise gets the tip: sv2 probe shows it.
func TestTemplatesPlain(t *testing.T) {
	t.Parallel()
	p := startTemplates(t, "--listen", "127.0.0.1:0", "--plain", "--new-tip-every", "0")
	if p.key != "" {
		t.Errorf("key %q printed with --plain", p.key)
	}
	r := run(t, sv2Bin, "", "probe", "--plain", "--protocol", "template-distribution", "--timeout", "5s", p.addr)
	out := lines(r.stdout)
	if r.code != 0 || len(out) != 4 || !strings.Contains(out[2], `"message":"NewTemplate"`) || !strings.Contains(out[3], `"nBits":419668748`) {
		t.Errorf("probe: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("SIGTERM: exit %d", code)
	}
}

func TestTemplatesUsage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string // part of the one line on standard error
	}{
		{[]string{"--bits", "0"}, "--bits 0"},
		{[]string{"--bits", "0x1ffffffff"}, "--bits 0x1ffffffff"},
		{[]string{"--bits", "0x1d800001"}, "--bits 0x1d800001"},
		{[]string{"--bits", "0x01003456"}, "zero target"},
		{[]string{"--bits", "hard"}, "hard"},
		{[]string{"--new-tip-every", "-1s"}, "--new-tip-every"},
		{[]string{"--height", "0"}, "--height 0"},
		{[]string{"--listen", "localhost"}, "--listen"},
		{[]string{"127.0.0.1:0"}, "unexpected argument"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
	} {
		r := run(t, sv2Bin, "", append([]string{"templates"}, tt.args...)...)
		if r.code != 1 || r.stdout != "" {
			t.Errorf("%q: exit %d, stdout %q; want 1 and nothing", tt.args, r.code, r.stdout)
		}
		if lines := lines(r.stderr); len(lines) != 1 || !strings.HasPrefix(lines[0], "sv2 templates: ") || !strings.Contains(lines[0], tt.want) {
			t.Errorf("%q: stderr %q, want one line containing %q", tt.args, r.stderr, tt.want)
		}
	}
}

// A port already taken is a failure to serve, status 2.
func TestTemplatesListenFails(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := run(t, sv2Bin, "", "templates", "--listen", ln.Addr().String())
	if r.code != 2 || r.stdout != "" || !strings.HasPrefix(r.stderr, "sv2 templates: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exit %d, stdout %q, stderr %q; want 2 and one line", r.code, r.stdout, r.stderr)
	}
}

// SIGINT stops it as SIGTERM does, with status 0.
func TestTemplatesInterrupt(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to send on Windows")
	}
	t.Parallel()
	p := startTemplates(t, "--listen", "127.0.0.1:0")
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range p.lines { // the output ends as the process does
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("SIGINT: %v, want exit 0; stderr %q", err, p.stderr.String())
	}
}

// --help explains every flag, each default named once.
func TestTemplatesHelp(t *testing.T) {
	t.Parallel()
	r := run(t, sv2Bin, "", "templates", "--help")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	for _, f := range templatesCommand().Flags {
		if name := f.Names()[0]; !strings.Contains(r.stdout, "--"+name+" ") {
			t.Errorf("--help does not explain --%s", name)
		}
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Count(line, "default") > 1 {
			t.Errorf("two defaults: %s", strings.TrimSpace(line))
		}
	}
	if !strings.Contains(r.stdout, "(default: 0x1903a30c)") {
		t.Errorf("--bits default not shown in hex:\n%s", r.stdout)
	}
}
