//! Keywarden: a self-hosted identity service built for the day credentials leak.
#![forbid(unsafe_code)]
// Leptos views are nested generic types; the release wasm build computes the layout of the audit
// trail's row (a table row with a details list) past the default limit of 128.
#![recursion_limit = "256"]

pub mod app;
pub mod domain;
pub mod error;
pub mod features;
pub mod ui;

pub mod site_header;

#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod email;
#[cfg(feature = "ssr")]
pub mod geo;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod net;
#[cfg(feature = "ssr")]
pub mod runtime;
#[cfg(feature = "ssr")]
pub mod startup;
#[cfg(feature = "ssr")]
pub mod storage;
#[cfg(feature = "ssr")]
pub mod telemetry;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // The console's pages are lazy routes (loaded when first visited): hydration waits for the
    // piece of wasm of the page being hydrated.
    leptos::mount::hydrate_lazy(app::App);
}
