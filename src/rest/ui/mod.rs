//! The run dashboard at `/ui` and the API docs at `/docs`, served by the facade itself
//! (docs/observability.md, "The dashboard").
//!
//! Everything is embedded in the binary at build time: the dashboard's HTML, script and style
//! (`assets/`), and Swagger UI from its npm package (`vendor/swagger-ui/`, refreshed by
//! `vendor/refresh.sh`). The pages hold no data: the script reads the REST routes (and the
//! read-only routes of `views`) with the bearer token the user pasted, or with none so that a
//! proxy's header applies, so RBAC decides what a page shows exactly as for any REST client.
//! A Content-Security-Policy of `'self'` keeps the browser from loading anything from elsewhere.

pub mod views;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;

/// Only this origin: no CDN, no external font, no beacon. Swagger UI sets inline styles.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// Vendored files change only with the binary; the dashboard's own are small.
    immutable: bool,
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/ui/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("assets/index.html"),
        immutable: false,
    },
    Asset {
        path: "/ui/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/app.js"),
        immutable: false,
    },
    Asset {
        path: "/ui/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("assets/app.css"),
        immutable: false,
    },
    Asset {
        path: "/docs/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("assets/docs.html"),
        immutable: false,
    },
    Asset {
        path: "/docs/init.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/docs-init.js"),
        immutable: false,
    },
    Asset {
        path: "/docs/swagger-ui-bundle.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("vendor/swagger-ui/swagger-ui-bundle.js"),
        immutable: true,
    },
    Asset {
        path: "/docs/swagger-ui.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("vendor/swagger-ui/swagger-ui.css"),
        immutable: true,
    },
    Asset {
        path: "/docs/LICENSE",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("vendor/swagger-ui/LICENSE"),
        immutable: true,
    },
];

fn serve(asset: &'static Asset) -> Response {
    let cache = if asset.immutable {
        "public, max-age=86400"
    } else {
        "no-cache"
    };
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (CACHE_CONTROL, HeaderValue::from_static(cache)),
            (CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
            (
                HeaderName::from_static("x-content-type-options"),
                HeaderValue::from_static("nosniff"),
            ),
            (
                HeaderName::from_static("referrer-policy"),
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        asset.body,
    )
        .into_response()
}

/// The pages, their files and the dashboard's JSON routes (`prefix` is the REST prefix).
pub fn routes(prefix: &str) -> Router<AppState> {
    let mut router = Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/docs", get(|| async { Redirect::permanent("/docs/") }))
        .route("/v1/workspaces", get(views::workspaces))
        .route(&format!("{prefix}/overview"), get(views::overview))
        .route(
            &format!("{prefix}/actions/{{action_id}}/timeline"),
            get(views::timeline),
        )
        .route(
            &format!("{prefix}/actions/{{action_id}}/runs/{{run_id}}/attempts"),
            get(views::attempts),
        );
    for asset in ASSETS {
        router = router.route(asset.path, get(move || async move { serve(asset) }));
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_load_nothing_from_elsewhere() {
        for asset in ASSETS.iter().filter(|a| !a.immutable) {
            let text = std::str::from_utf8(asset.body)
                .expect("utf-8")
                // The SVG namespace is a name, not a request.
                .replace("http://www.w3.org/2000/svg", "");
            for needle in ["http://", "https://", "//cdn", "@import"] {
                assert!(
                    !text.contains(needle),
                    "{} mentions {needle}: pages must load only from the facade",
                    asset.path
                );
            }
        }
    }
}
