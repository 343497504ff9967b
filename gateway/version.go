package gateway

import (
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X nergateway/gateway.version=...".
var version = "dev"

// buildInfo is what `gateway version`, /status and gateway_build_info
// report: the version, the commit when the build recorded one, and Go's.
type buildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	GoVersion string `json:"goVersion"`
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				b.Revision = s.Value
			}
		}
	}
	return b
}

// VersionLine is the one line `gateway version` prints.
func VersionLine() string {
	b := currentBuild()
	line := "nergateway " + b.Version
	if b.Revision != "" {
		line += " (" + b.Revision + ")"
	}
	return line + " " + b.GoVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
}
