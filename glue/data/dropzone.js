// Drag and drop anywhere on the page: while files are dragged over the window the drop
// target (`overlay`) shows; a drop hands over all its files (an ENVI header comes with its data
// file). Drags that carry no files (text, links, images from the page) are left to the browser.
const WATCHDOG_MS = 1500;  // browsers repeat dragover every ~350 ms while a drag is over the page

// onFiles(files: File[]) gets every dropped file; onFile(file), the older form, the first.
export function installDropzone({ overlay, onFiles = null, onFile = null, target = window }) {
  let depth = 0;
  let watchdog = 0;
  const carriesFiles = (e) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
  const show = (on) => {
    overlay.hidden = !on;
    document.body.classList.toggle('dragging', on);
    clearTimeout(watchdog);
    // A drag that ends outside the window (or is cancelled with Esc) may leave no dragleave
    // behind: hide the target when dragover stops coming.
    if (on) watchdog = setTimeout(() => { depth = 0; show(false); }, WATCHDOG_MS);
  };

  target.addEventListener('dragenter', (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    depth += 1;
    show(true);
  });
  target.addEventListener('dragover', (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();  // allows the drop (the default would open the file in the tab)
    e.dataTransfer.dropEffect = 'copy';
    show(true);
  });
  target.addEventListener('dragleave', (e) => {
    if (!carriesFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) show(false);
  });
  target.addEventListener('drop', (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    depth = 0;
    show(false);
    const files = Array.from(e.dataTransfer.files);
    if (!files.length) return;
    if (onFiles) onFiles(files); else onFile?.(files[0]);
  });
  target.addEventListener('dragend', () => { depth = 0; show(false); });
}
