//! The confirmation dialogs of dangerous actions: a disclosure (`<details>`) whose summary is the
//! opening button, so it works without JavaScript. With it, the dialog also behaves as one for the
//! keyboard (WCAG 2.4.3, focus order): opening moves the focus to its first field, Esc closes it,
//! and the focus goes back to the button that opened it.

use leptos::html::Details;
use leptos::prelude::*;
use leptos::wasm_bindgen::JsCast;
use leptos::web_sys::{Element, HtmlDetailsElement, HtmlElement};

/// A danger dialog: `opener` is the button's text, the children its body. `dialog` lets the page
/// close it once its action is done.
#[component]
pub fn ConfirmDialog(
    /// What the opening button reads.
    #[prop(into)]
    opener: String,
    /// The opening button's accessible name, when its text alone is not enough ("Remove…" in a
    /// table row).
    #[prop(optional, into)]
    opener_label: Option<String>,
    #[prop(default = "btn btn-danger")] opener_class: &'static str,
    /// `danger-dialog` (a panel's action) or `confirm-dialog` (a table row's).
    #[prop(default = "danger-dialog")]
    class: &'static str,
    #[prop(optional)] dialog: NodeRef<Details>,
    children: Children,
) -> impl IntoView {
    view! {
        <details class=class node_ref=dialog on:toggle=on_toggle on:keydown=on_keydown>
            <summary class=opener_class aria-label=opener_label>{opener}</summary>
            // Focusable from script only: the fallback target when the body has no field.
            <div class="dialog-body" tabindex="-1">{children()}</div>
        </details>
    }
}

/// The fields a keyboard user would fill first; buttons are left out, so opening never puts the
/// focus on the dangerous one.
const FIELDS: &str = ".dialog-body :is(input:not([type=hidden]):not([disabled]), select, textarea)";

fn details_of(ev: &leptos::ev::Event) -> Option<HtmlDetailsElement> {
    ev.current_target()?.dyn_into().ok()
}

fn focus(el: Option<Element>) {
    if let Some(el) = el.and_then(|e| e.dyn_into::<HtmlElement>().ok()) {
        let _ = el.focus();
    }
}

fn summary_of(details: &HtmlDetailsElement) -> Option<Element> {
    details.query_selector(":scope > summary").ok().flatten()
}

/// Opened: the focus goes to the first field (or the body). Closed by the page after a done
/// action while the focus was inside (now hidden): it goes back to the opener.
fn on_toggle(ev: leptos::ev::Event) {
    let Some(details) = details_of(&ev) else {
        return;
    };
    if details.open() {
        let first = details.query_selector(FIELDS).ok().flatten();
        focus(first.or_else(|| details.query_selector(".dialog-body").ok().flatten()));
        return;
    }
    let active = document().active_element();
    let body = document().body().map(Element::from);
    let lost = active.is_none() || active == body;
    let inside = active
        .as_ref()
        .is_some_and(|a| details.contains(Some(a)) && Some(a) != summary_of(&details).as_ref());
    if lost || inside {
        focus(summary_of(&details));
    }
}

/// Esc in an open dialog closes it and gives the focus back to its opener.
fn on_keydown(ev: leptos::ev::KeyboardEvent) {
    if ev.key() != "Escape" {
        return;
    }
    let Some(details) = details_of(&ev) else {
        return;
    };
    if details.open() {
        ev.prevent_default();
        details.set_open(false);
        focus(summary_of(&details));
    }
}
