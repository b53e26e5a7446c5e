// Conveniences of the console; every page works without them.
// - A form with data-confirm asks before it is sent.
// - A button with data-copy copies that text to the clipboard.
document.addEventListener('submit', function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute('data-confirm');
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener('click', function (event) {
  var button = event.target.closest && event.target.closest('button[data-copy]');
  if (!button || !navigator.clipboard) {
    return;
  }
  event.preventDefault();
  navigator.clipboard.writeText(button.getAttribute('data-copy')).then(function () {
    var label = button.textContent;
    button.textContent = 'コピーしました';
    setTimeout(function () { button.textContent = label; }, 1500);
  });
});
