//go:build ignore

// modproxy writes a file-based Go module proxy (GOPROXY=file://DIR) holding every
// module of this repository's go.work at one version, zipped from a git revision
// exactly as a tag would publish it (tracked files only). CI uses it to build a
// consumer module outside the tree with GOWORK=off, proving that the nested
// modules resolve each other and the root by version, with no replace.
//
// Usage: go run .ci/modproxy.go -out DIR [-version v0.1.0] [-rev HEAD]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

func main() {
	out := flag.String("out", "", "proxy directory to write")
	version := flag.String("version", "v0.1.0", "version to publish every module at")
	rev := flag.String("rev", "HEAD", "git revision to publish")
	flag.Parse()
	if *out == "" {
		log.Fatal("modproxy: -out is required")
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		log.Fatalf("modproxy: not in a git checkout: %v", err)
	}
	root := strings.TrimSpace(string(top))
	work, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		log.Fatal(err)
	}
	wf, err := modfile.ParseWork("go.work", work, nil)
	if err != nil {
		log.Fatal(err)
	}
	// git archive, not the work tree: only tracked files are published, as a tag
	// would publish them (and this works in a git worktree too).
	tree, err := os.MkdirTemp("", "modproxy-tree-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tree)
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, *rev, tree)
	if b, err := archive.CombinedOutput(); err != nil {
		log.Fatalf("modproxy: git archive %s: %v\n%s", *rev, err, b)
	}
	for _, u := range wf.Use {
		if err := publish(tree, path.Clean(u.Path), *out, *version); err != nil {
			log.Fatalf("modproxy: %s: %v", u.Path, err)
		}
	}
}

// publish writes the .info, .mod, .zip and list files of the module in dir.
func publish(tree, dir, out, version string) error {
	gomod, err := os.ReadFile(filepath.Join(tree, dir, "go.mod"))
	if err != nil {
		return err
	}
	mf, err := modfile.ParseLax("go.mod", gomod, nil)
	if err != nil {
		return err
	}
	m := module.Version{Path: mf.Module.Mod.Path, Version: version}
	esc, err := module.EscapePath(m.Path)
	if err != nil {
		return err
	}
	vdir := filepath.Join(out, esc, "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	var z bytes.Buffer
	if err := zip.CreateFromDir(&z, m, filepath.Join(tree, dir)); err != nil {
		return err
	}
	info := fmt.Sprintf(`{"Version":%q,"Time":%q}`, version, time.Now().UTC().Format(time.RFC3339))
	files := map[string][]byte{version + ".zip": z.Bytes(), version + ".mod": gomod, version + ".info": []byte(info), "list": []byte(version + "\n")}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(vdir, name), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Println(m.Path, version)
	return nil
}
