// Docusaurus client module: after every route change, the widget learns the page the reader is on
// (its path, which the service prefers when it searches, and its title). Runs in the browser only.

function currentPage(location) {
  return (location && location.pathname) || window.location.pathname;
}

export function onRouteDidUpdate({ location, previousLocation }) {
  if (typeof window === "undefined") return;
  if (previousLocation && location.pathname === previousLocation.pathname) return;
  // The document title is set on the next tick by the router's head manager.
  setTimeout(() => {
    const chat = window.TextbookChat;
    if (chat && typeof chat.setPage === "function") chat.setPage(currentPage(location), document.title);
  }, 0);
}
