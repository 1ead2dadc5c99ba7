//! The console's assets, compiled into the binary: a stylesheet, a script and an icon. No font
//! and no library is fetched from anywhere; pages use the system's fonts.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The stylesheet.
pub const CSS: &str = include_str!("assets/console.css");
/// The script.
pub const JS: &str = include_str!("assets/console.js");
/// The icon.
pub const FAVICON: &str = include_str!("assets/favicon.svg");

/// How long a browser may keep an asset without asking again: short, as asset URLs carry no
/// version and a new receiver may serve new ones.
const CACHE: &str = "public, max-age=300";

/// An asset's body and content type, by file name.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "console.css" => Some((CSS, "text/css; charset=utf-8")),
        "console.js" => Some((JS, "text/javascript; charset=utf-8")),
        "favicon.svg" => Some((FAVICON, "image/svg+xml")),
        _ => None,
    }
}

/// `GET /console/assets/{file}`
pub async fn serve(Path(file): Path<String>) -> Response {
    match asset(&file) {
        Some((body, content_type)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, CACHE),
            ],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_served_and_names_no_other_host() {
        for name in ["console.css", "console.js", "favicon.svg"] {
            let (body, _) = asset(name).unwrap();
            assert!(!body.is_empty());
            let urls = body.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !urls.contains("http://") && !urls.contains("https://"),
                "{name}"
            );
        }
        assert!(asset("../Cargo.toml").is_none());
    }
}
