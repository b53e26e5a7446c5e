// Sends the browser on to the gateway at once from /pay/{link_key}; the button does the same without
// JavaScript. A file, not an inline script, so the pages' Content-Security-Policy allows no inline code.
document.getElementById("purchase_form").submit();
