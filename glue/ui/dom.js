// The page's elements by id, looked up inside one root: the document for the page, a notebook
// widget's own element for the widget (where several explorers may share one document).
export function byId(root = document) {
  if (root === document) return (id) => document.getElementById(id);
  return (id) => root.querySelector(`#${id}`);
}
