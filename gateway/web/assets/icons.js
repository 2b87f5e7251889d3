// Small line icons for the choice cards, drawn with SVG DOM calls (no markup parsing).

const NS = "http://www.w3.org/2000/svg";

const PATHS = {
  citizen: ["M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z", "M4 21c0-4.4 3.6-7 8-7s8 2.6 8 7"],
  enterprise: ["M4 21V5l8-2v18", "M12 8l8 2v11", "M2 21h20", "M7 8h2M7 12h2M7 16h2M15 13h2M15 17h2"],
  usb: ["M9 2h6v5H9z", "M7 7h10v11a4 4 0 0 1-4 4h-2a4 4 0 0 1-4-4z", "M11 4h0M13 4h0"],
  sim: ["M7 2h7l5 5v15H7z", "M10 11h6v7h-6z", "M13 11v7M10 14.5h6"],
  login: ["M14 3h5v18h-5", "M3 12h12", "M11 8l4 4-4 4"],
  account: ["M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z", "M4 21c0-4.4 3.6-7 8-7s8 2.6 8 7", "M17 3l1.5 1.5L21 2"],
};

/** An aria-hidden 24×24 stroke icon, or null for an unknown name. */
export function icon(name) {
  const paths = PATHS[name];
  if (!paths) return null;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", "icon");
  for (const d of paths) {
    const path = document.createElementNS(NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}
