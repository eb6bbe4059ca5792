package sessiond

import "strings"

// deviceLabel derives a short human label, such as "Chrome on macOS", from a
// User-Agent header. Unknown parts read "Unknown browser" and "unknown OS";
// an empty agent reads "Unknown device".
func deviceLabel(ua string) string {
	if strings.TrimSpace(ua) == "" {
		return "Unknown device"
	}
	return browserFamily(ua) + " on " + osFamily(ua)
}

// browserFamily names the browser of a User-Agent header ("Firefox",
// "Chrome", "curl"), or "Unknown browser". The anomaly policy compares
// families, not full agents, so that a browser update is not a new device.
func browserFamily(ua string) string {
	// Order matters: Edge and Opera also claim Chrome, Chrome claims Safari.
	for _, b := range browsers {
		if strings.Contains(ua, b.token) {
			return b.name
		}
	}
	return "Unknown browser"
}

var browsers = []struct{ token, name string }{
	{"Edg/", "Edge"},
	{"OPR/", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"Firefox/", "Firefox"},
	{"FxiOS/", "Firefox"},
	{"CriOS/", "Chrome"},
	{"Chromium/", "Chromium"},
	{"Chrome/", "Chrome"},
	{"Safari/", "Safari"},
	{"curl/", "curl"},
	{"Wget/", "Wget"},
	{"python-requests/", "Python requests"},
	{"Go-http-client/", "Go HTTP client"},
}

func osFamily(ua string) string {
	switch {
	case strings.Contains(ua, "iPhone"), strings.Contains(ua, "iPad"):
		return "iOS"
	case strings.Contains(ua, "Android"):
		return "Android"
	case strings.Contains(ua, "CrOS"):
		return "ChromeOS"
	case strings.Contains(ua, "Mac OS X"), strings.Contains(ua, "Macintosh"):
		return "macOS"
	case strings.Contains(ua, "Windows"):
		return "Windows"
	case strings.Contains(ua, "Linux"):
		return "Linux"
	}
	return "unknown OS"
}
