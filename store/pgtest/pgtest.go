// Package pgtest runs a PostgreSQL server of this machine's for tests: a
// new cluster in a temporary directory, listening only on a Unix socket
// there (no port that another test's server could take first), stopped
// and removed when the test ends. PostgreSQL must be installed (Debian's
// postgresql package; .ci/run installs it).
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Server is a running PostgreSQL server.
type Server struct {
	// URL connects to its postgres database as a superuser.
	URL string
	cmd *exec.Cmd
	dir string
}

// Start runs a new PostgreSQL server until the test ends. As root it runs
// the server as the postgres user, which initdb requires.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := binDir()
	if err != nil {
		tb.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "trestle-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("running as root, PostgreSQL needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "trestle", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	s := &Server{dir: dir, URL: socketURL(dir, "postgres")}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-c", "listen_addresses=", "-k", dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		tb.Fatal(err)
	}
	if cred != nil {
		_ = log.Chown(int(cred.Uid), int(cred.Gid))
	}
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		_ = s.cmd.Wait()
		log.Close()
	})
	if err := s.await(30 * time.Second); err != nil {
		out, _ := os.ReadFile(log.Name())
		tb.Fatalf("PostgreSQL did not start: %v\n%s", err, out)
	}
	return s
}

// Database makes a new database and returns its URL. It collates text by
// language (ICU's en-US), as production databases often do, so that a
// query that sorts text without saying how shows it.
func (s *Server) Database(tb testing.TB, name string) string {
	tb.Helper()
	db, err := sql.Open("pgx", s.URL)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE DATABASE "` + name + `" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.utf8'`); err != nil {
		tb.Fatal(err)
	}
	return socketURL(s.dir, name)
}

// socketURL connects to database name over the socket in dir.
func socketURL(dir, name string) string {
	return fmt.Sprintf("postgres://trestle@/%s?host=%s&sslmode=disable", name, url.QueryEscape(dir))
}

// await waits until the server answers.
func (s *Server) await(within time.Duration) error {
	db, err := sql.Open("pgx", s.URL)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// binDir finds the server's programs: pg_config's, or Debian's newest.
func binDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := string(out[:len(out)-1])
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", fmt.Errorf("PostgreSQL is not installed (no initdb on the PATH or in /usr/lib/postgresql): apt-get install postgresql, as .ci/run does")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}
