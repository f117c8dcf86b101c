# shellcheck shell=bash
# Defines find_chromium for scripts that run the dashboard's browser test.
# Source this file, which runs nothing by itself:
#
#	. scripts/chromium.sh
#	if chromium=$(find_chromium); then export AIMETER_CHROMIUM="$chromium"; fi
#
# Debian's chromium package installs /usr/bin/chromium (apt-get install -y
# chromium).

# find_chromium prints the path of a Chromium binary and returns 0, or
# prints nothing and returns 1 when there is none. It tries, in order,
# AIMETER_CHROMIUM, /usr/bin/chromium, and chromium on PATH. An
# AIMETER_CHROMIUM that names no executable file is an error, reported on
# standard error, rather than a reason to look elsewhere.
find_chromium() {
	local candidate
	if [ -n "${AIMETER_CHROMIUM:-}" ]; then
		if [ -f "$AIMETER_CHROMIUM" ] && [ -x "$AIMETER_CHROMIUM" ]; then
			printf '%s\n' "$AIMETER_CHROMIUM"
			return 0
		fi
		echo "find_chromium: AIMETER_CHROMIUM=$AIMETER_CHROMIUM is not an executable file, so unset it or set it to a Chromium binary" >&2
		return 1
	fi
	if [ -x /usr/bin/chromium ]; then
		printf '%s\n' /usr/bin/chromium
		return 0
	fi
	if candidate=$(command -v chromium 2>/dev/null) && [ -n "$candidate" ]; then
		printf '%s\n' "$candidate"
		return 0
	fi
	return 1
}
