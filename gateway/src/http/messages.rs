//! What a person reads for an error code: the page's message catalogue
//! (`gateway/web/messages/{vi,en}.json`, key `errors.<CODE>.title`), embedded in the
//! binary. Problem documents carry the Vietnamese title; the page shows the title and
//! guidance in the person's language. The core knows only codes.

use kyso_verify::error::ErrorCode;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The catalogue files, as the page fetches them.
pub const CATALOGUES: [(&str, &str); 2] = [
    ("vi", include_str!("../../web/messages/vi.json")),
    ("en", include_str!("../../web/messages/en.json")),
];

/// Error titles by language, then by code.
type Titles = HashMap<&'static str, HashMap<String, String>>;

fn titles() -> &'static Titles {
    static TITLES: OnceLock<Titles> = OnceLock::new();
    TITLES.get_or_init(|| {
        CATALOGUES
            .iter()
            .map(|(lang, text)| (*lang, error_titles(text)))
            .collect()
    })
}

/// `errors.<CODE>.title` of one catalogue; an unreadable catalogue gives none (a unit
/// test keeps the committed ones complete).
fn error_titles(text: &str) -> HashMap<String, String> {
    let parsed: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    parsed["errors"]
        .as_object()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|(code, m)| Some((code.clone(), m["title"].as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The title of `code` in `lang` (`vi`, `en`), falling back to the wire name.
pub fn title(code: ErrorCode, lang: &str) -> &'static str {
    titles()
        .get(lang)
        .and_then(|t| t.get(code.as_str()))
        .map_or(code.as_str(), String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    use kyso_verify::error::AgentCode;

    #[test]
    fn every_code_has_a_title_and_guidance_in_both_languages() {
        for (lang, text) in CATALOGUES {
            let parsed: serde_json::Value = serde_json::from_str(text).unwrap();
            let names = ErrorCode::ALL
                .iter()
                .map(|c| c.as_str())
                .chain(AgentCode::ALL.iter().map(|c| c.as_str()));
            for code in names {
                let entry = &parsed["errors"][code];
                for field in ["title", "guidance"] {
                    let s = entry[field].as_str().unwrap_or_default();
                    assert!(!s.trim().is_empty(), "{lang}: {code} has no {field}");
                }
            }
        }
        assert_ne!(
            title(ErrorCode::CertRevoked, "vi"),
            title(ErrorCode::CertRevoked, "en")
        );
    }
}
