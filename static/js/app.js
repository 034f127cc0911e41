// Runs before first paint: lets the stylesheet tell pages with the script running from pages without it.
document.documentElement.classList.replace("no-js", "js");
