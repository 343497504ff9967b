package gateway

import (
	"runtime"
	"runtime/debug"

	"nergateway/health"
)

// version is set at build time with -ldflags "-X nergateway/gateway.version=...".
var version = "dev"

// currentBuild is what `gateway version`, /status and gateway_build_info
// report: the version, the commit when the build recorded one, and Go's.
func currentBuild() health.Build {
	b := health.Build{Version: version, GoVersion: runtime.Version()}
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
