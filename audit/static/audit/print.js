// A printed report lists every patient: the "+N more" lists open for printing.
window.addEventListener("beforeprint", () => {
  document.querySelectorAll("details.more").forEach((d) => { d.open = true; });
});
