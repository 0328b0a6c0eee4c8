// Package browsertest holds the operator console's end-to-end tests in real
// headless Chromium, driven with chromedp. It is a module of its own so that
// chromedp stays out of the core module; it exports nothing.
//
// The tests read MODELGUARD_TEST_CHROMIUM, the path of a Chromium binary
// (Debian's package installs /usr/bin/chromium; `eval "$(.ci/chromium)"` sets
// it), and skip, saying so, without it. Screenshots of each step are written to
// $MODELGUARD_TEST_ARTIFACTS when it is set, else to the test's temporary
// directory.
package browsertest
