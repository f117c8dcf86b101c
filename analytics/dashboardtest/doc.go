// Package dashboardtest tests the analytics dashboard in a headless
// Chromium: the page loads, draws its charts and tables from the JSON API,
// switches windows without reloading, and shows provider and caller strings
// as text.
//
// It is a module of its own so that the root module never depends on
// chromedp. The tests need Debian's chromium package: they find the binary
// through the AIMETER_CHROMIUM environment variable, /usr/bin/chromium or
// chromium on PATH, skip without one, and fail without one when CI=true.
// AIMETER_UPDATE_SCREENSHOT=1 rewrites docs/dashboard.png, and
// AIMETER_SCREENSHOT_DIR=DIR saves laptop and phone screenshots there.
package dashboardtest
