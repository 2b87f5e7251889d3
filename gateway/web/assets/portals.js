// The account page's linked portals ("Danh sách tài khoản liên kết"): the portals the
// person signed in to with this account and consented to, what each receives, and a way
// to withdraw (the portal's tokens are revoked and it is told to log the person out).

import { h, clear, isAbort } from "./dom.js";
import { L, bind, formatDate, t } from "./i18n.js";
import { callGateway } from "./api.js";
import { announce, focusError, renderError } from "./errors.js";

/** A card that lists the linked portals of the session's account. */
export function linkedPortals(session, ctx) {
  const card = h("section", { class: "card", testid: "linked-portals" }, L("h2", "portals.title"));
  const body = h("div");
  card.append(body);

  async function load() {
    clear(body);
    let portals;
    try {
      portals = (await callGateway("GET", "/v1/accounts/me/portals", { token: session.token, signal: ctx.signal })).data.portals;
    } catch (e) {
      if (isAbort(e) || ctx.signal.aborted) return;
      body.append(renderError(e, { config: ctx.config, onRetry: load }));
      return;
    }
    if (!portals.length) {
      body.append(L("p", "portals.none", null, { class: "hint", testid: "portals-none" }));
      return;
    }
    const list = h("ul", { class: "portals" });
    for (const p of portals) {
      const claims = h("ul", { class: "claims" });
      for (const c of p.claims) claims.append(bind(h("li", { dataset: { claim: c } }), () => t(`portals.claims.${c}`)));
      const unlink = L("button", "portals.unlink", null, {
        type: "button",
        class: "button",
        testid: "portal-unlink",
        on: { click: () => withdraw(p, unlink) },
      });
      list.append(
        h(
          "li",
          { class: "portal", testid: "portal", dataset: { clientId: p.client_id } },
          h("strong", { testid: "portal-name", text: p.name }),
          bind(h("p", { class: "hint" }), () => t("portals.linked_at", { time: formatDate(p.linked_at, true) })),
          L("p", "portals.receives"),
          claims,
          unlink,
        ),
      );
    }
    body.append(list);
  }

  async function withdraw(portal, button) {
    button.disabled = true;
    try {
      await callGateway("DELETE", `/v1/accounts/me/portals/${encodeURIComponent(portal.client_id)}`, { token: session.token, signal: ctx.signal });
      announce(t("portals.unlinked", { name: portal.name }));
      await load();
    } catch (e) {
      if (isAbort(e) || ctx.signal.aborted) return;
      button.disabled = false;
      const box = renderError(e, { config: ctx.config });
      body.prepend(box);
      focusError(box);
    }
  }

  load();
  return card;
}
