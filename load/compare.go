package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// comparison is what -against compares the working tree with: a revision
// of the repository that holds the module, resolved once, so that commits
// made meanwhile in the same checkout do not change what is built.
type comparison struct {
	rev    string // as given, "HEAD~3"
	commit string // its full hash
	short  string // its short hash
	tree   string // the working tree: its HEAD's short hash, "+ changes" when it has some
	root   string // the repository's top level
	prefix string // the module's directory within it, "" or "x/"
}

// compare resolves rev in the repository that holds the module this
// command is run in. It starts nothing, so that a wrong revision is
// reported before any build.
func compare(ctx context.Context, rev string) (*comparison, error) {
	if rev == "" || strings.HasPrefix(rev, "-") {
		return nil, fmt.Errorf("-against: %q is not a revision", rev) // nor an option for git
	}
	modDir, _, err := module(ctx)
	if err != nil {
		return nil, err
	}
	where, err := git(ctx, modDir, "rev-parse", "--show-toplevel", "--show-prefix")
	if err != nil {
		return nil, fmt.Errorf("-against needs the module in a git repository: %w", err)
	}
	c := &comparison{rev: rev}
	c.root, c.prefix, _ = strings.Cut(where, "\n")
	if c.commit, err = git(ctx, modDir, "rev-parse", "--verify", "--quiet", rev+"^{commit}"); err != nil {
		return nil, fmt.Errorf("-against: %q is not a commit in %s", rev, c.root)
	}
	if c.short, err = git(ctx, modDir, "rev-parse", "--short", c.commit); err != nil {
		return nil, err
	}
	if c.tree, err = workingTree(ctx, modDir); err != nil {
		return nil, err
	}
	return c, nil
}

// workingTree is the short hash of HEAD, with "+ changes" when the
// working tree differs from it.
func workingTree(ctx context.Context, dir string) (string, error) {
	head, err := git(ctx, dir, "rev-parse", "--short", "HEAD")
	if err != nil {
		return "", err
	}
	// Without optional locks: status would otherwise refresh the index,
	// and others may be committing in the same checkout.
	changes, err := git(ctx, dir, "--no-optional-locks", "status", "--porcelain")
	if err != nil {
		return "", err
	}
	if changes != "" {
		head += " + changes"
	}
	return head, nil
}

// String names both builds, for the line under the table.
func (c *comparison) String() string {
	return fmt.Sprintf("before: %s (%s); after: the working tree, %s", c.short, c.rev, c.tree)
}

// build compiles Trestle as it is at the revision into bin, from a
// detached worktree in dir that is removed again right after: the binary
// is all the table needs.
func (c *comparison) build(ctx context.Context, dir, bin string) error {
	src := filepath.Join(dir, "src-"+c.short)
	if _, err := git(ctx, c.root, "worktree", "add", "--detach", src, c.commit); err != nil {
		_ = removeWorktree(ctx, c.root, src) // an add cut short leaves one behind
		return err
	}
	err := build(ctx, filepath.Join(src, c.prefix), bin)
	return errors.Join(err, removeWorktree(ctx, c.root, src))
}

// removeWorktree removes the worktree at path, also once ctx has ended
// (on an interrupt). Forced twice: an add cut short leaves it locked.
func removeWorktree(ctx context.Context, root, path string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := git(ctx, root, "worktree", "remove", "--force", "--force", path)
	return err
}

// compared is each row twice, built from the revision and then from the
// working tree, so that each pair is measured minutes apart at most.
func compared(rows []row) []row {
	var out []row
	for _, r := range rows {
		before, after := r, r
		before.build, after.build = "before", "after"
		out = append(out, before, after)
	}
	return out
}

// git runs git in dir and returns what it printed, trimmed.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && len(exit.Stderr) > 0 {
			return "", fmt.Errorf("git %s: %s: %w", strings.Join(args, " "), bytes.TrimSpace(exit.Stderr), err)
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
