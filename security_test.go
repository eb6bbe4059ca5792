package sessiond_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSECURITY_EveryCitedRequirementIsDefined keeps SECURITY.md and the code
// in step: every SEC id a Go file cites (a comment, a test name) is defined
// there, and every test it names as proof exists.
func TestSECURITY_EveryCitedRequirementIsDefined(t *testing.T) {
	doc, err := os.ReadFile("SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	for _, m := range regexp.MustCompile(`\*\*SEC-(\d\d)\*\*`).FindAllStringSubmatch(string(doc), -1) {
		defined[m[1]] = true
	}
	cited := regexp.MustCompile(`SEC-?(\d\d)`)
	funcs := regexp.MustCompile(`func ((?:Test|Fuzz)\w+)`)
	declared := map[string]bool{}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") && path != ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range cited.FindAllStringSubmatch(string(b), -1) {
			if !defined[m[1]] {
				t.Errorf("%s cites SEC-%s, which SECURITY.md does not define", path, m[1])
			}
		}
		for _, m := range funcs.FindAllStringSubmatch(string(b), -1) {
			declared[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("`((?:Test|Fuzz)\\w+)`").FindAllStringSubmatch(string(doc), -1) {
		if !declared[m[1]] {
			t.Errorf("SECURITY.md names %s, which no test declares", m[1])
		}
	}
}
