//! The price table: list prices per provider and model ([`PriceTable`]), the one shipped with the
//! binary (`prices.toml`, embedded, with its date and sources), what the configuration's
//! `[prices]` overrides or adds ([`PricesConfig`]), and the lookup a stage's provider and model
//! go through ([`Prices::llm`], [`Prices::stt`], [`Prices::tts`]).
//!
//! Pure data: parsed once when the receiver starts ([`Prices::resolve`]), read by
//! [`super::cost`] for every call log.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The shipped table (see its header for units and matching rules).
pub const BUILTIN: &str = include_str!("prices.toml");

/// What goes wrong reading a price table.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// The shipped table does not parse (a build that should never have passed its tests).
    #[error("the built-in price table does not parse: {0}")]
    Builtin(#[source] toml::de::Error),
    /// A price is negative or not a number.
    #[error("price of {provider}/{model} is not a non-negative number")]
    Invalid {
        /// The entry's provider.
        provider: String,
        /// The entry's model.
        model: String,
    },
}

/// A provider's source page and the names spans and metrics give it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderInfo {
    /// Where its prices were read.
    #[serde(default)]
    pub source: Option<String>,
    /// What the spans and metrics call it, besides its key (`api.openai.com`, `Deepgram`).
    #[serde(default)]
    pub names: Vec<String>,
}

/// A language model's (or speech-to-speech model's) prices, USD per million tokens.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmPrice {
    /// The provider's key.
    pub provider: String,
    /// The model.
    pub model: String,
    /// Prompt tokens.
    #[serde(default)]
    pub input: Option<f64>,
    /// Prompt tokens read from the cache (else they cost `input`).
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Completion tokens.
    #[serde(default)]
    pub output: Option<f64>,
    /// Audio prompt tokens.
    #[serde(default)]
    pub audio_input: Option<f64>,
    /// Audio completion tokens.
    #[serde(default)]
    pub audio_output: Option<f64>,
}

/// A speech-to-text model's price, USD per minute of audio.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SttPrice {
    /// The provider's key.
    pub provider: String,
    /// The model.
    pub model: String,
    /// USD per minute of audio.
    pub per_minute: f64,
}

/// A text-to-speech model's price, USD per million characters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtsPrice {
    /// The provider's key.
    pub provider: String,
    /// The model (a trailing `*` matches any suffix).
    pub model: String,
    /// USD per million characters.
    pub per_million_characters: f64,
}

/// A price table: the shipped one, or what a configuration adds to it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// When its prices were read (a date).
    #[serde(default)]
    pub version: Option<String>,
    /// Providers by key.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderInfo>,
    /// Language and speech-to-speech models.
    #[serde(default)]
    pub llm: Vec<LlmPrice>,
    /// Speech-to-text models.
    #[serde(default)]
    pub stt: Vec<SttPrice>,
    /// Text-to-speech models.
    #[serde(default)]
    pub tts: Vec<TtsPrice>,
}

/// The configuration's `[prices]`: entries that replace the shipped ones of the same provider
/// and model, or add to them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PricesConfig {
    /// Start from the shipped table (default); `false`: only the entries given here.
    pub builtin: bool,
    /// The entries (and their own `version`, else the shipped one's with `+config`).
    #[serde(flatten)]
    pub table: PriceTable,
}

impl Default for PricesConfig {
    fn default() -> Self {
        PricesConfig {
            builtin: true,
            table: PriceTable::default(),
        }
    }
}

/// Which entry a stage's provider and model were priced at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found<'a, T> {
    /// The entry.
    pub price: &'a T,
    /// `provider/model` as the table writes them.
    pub key: (&'a str, &'a str),
}

/// Why a stage has no price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// The provider is in no entry's names.
    UnknownProvider,
    /// The provider is known, the model is not (or no provider and no unique model).
    UnknownModel,
}

impl Miss {
    /// As the call log writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Miss::UnknownProvider => "unknown_provider",
            Miss::UnknownModel => "unknown_model",
        }
    }
}

/// The prices analysis uses: the shipped table with the configuration's entries over it.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices {
    /// The version call logs name (`pricesVersion`).
    pub version: String,
    table: PriceTable,
}

trait Entry {
    fn provider(&self) -> &str;
    fn model(&self) -> &str;
    fn rates(&self) -> Vec<f64>;
}

macro_rules! entry {
    ($ty:ty, |$p:ident| $rates:expr) => {
        impl Entry for $ty {
            fn provider(&self) -> &str {
                &self.provider
            }
            fn model(&self) -> &str {
                &self.model
            }
            fn rates(&self) -> Vec<f64> {
                let $p = self;
                $rates
            }
        }
    };
}

entry!(LlmPrice, |p| [
    p.input,
    p.cached_input,
    p.output,
    p.audio_input,
    p.audio_output
]
.into_iter()
.flatten()
.collect());
entry!(SttPrice, |p| vec![p.per_minute]);
entry!(TtsPrice, |p| vec![p.per_million_characters]);

/// `over`'s entries replace those of `base` with the same provider and model, the others are
/// added.
fn merge<T: Entry + Clone>(base: &mut Vec<T>, over: &[T]) {
    for entry in over {
        let same = |e: &T| {
            e.provider().eq_ignore_ascii_case(entry.provider())
                && normalise(e.model()) == normalise(entry.model())
        };
        match base.iter_mut().find(|e| same(e)) {
            Some(held) => *held = entry.clone(),
            None => base.push(entry.clone()),
        }
    }
}

fn check<T: Entry>(entries: &[T]) -> Result<(), PriceError> {
    for e in entries {
        if e.rates().iter().any(|r| !r.is_finite() || *r < 0.0) {
            return Err(PriceError::Invalid {
                provider: e.provider().to_string(),
                model: e.model().to_string(),
            });
        }
    }
    Ok(())
}

/// A model name as compared: lowercase, without a `vendor/` prefix.
fn normalise(model: &str) -> String {
    name_part(model).to_ascii_lowercase()
}

/// The model's name as [`normalise`] keeps it, in its own case: without spaces around it nor
/// the `provider/` before it.
fn name_part(model: &str) -> &str {
    let model = model.trim();
    model.rsplit_once('/').map_or(model, |(_, name)| name)
}

/// The model without a trailing date snapshot (`-2024-07-18`, `-20250514`), if it has one.
fn undated(model: &str) -> Option<&str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let bytes = model.len();
    if bytes > 11 {
        let (head, tail) = model.split_at(bytes - 11);
        let parts: Vec<&str> = tail.splitn(4, '-').collect();
        if parts.len() == 4
            && parts[0].is_empty()
            && parts[1].len() == 4
            && parts[2].len() == 2
            && parts[3].len() == 2
            && parts[1..].iter().all(|p| digits(p))
        {
            return Some(head);
        }
    }
    let (head, tail) = model.rsplit_once('-')?;
    (tail.len() == 8 && digits(tail)).then_some(head)
}

/// Whether the table's `pattern` (normalised; a trailing `*` matches any suffix) names `model`.
fn matches(pattern: &str, model: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => model.starts_with(prefix),
        None => pattern == model,
    }
}

impl Prices {
    /// The shipped table with `config` over it; an error names an entry that is not a price.
    pub fn resolve(config: &PricesConfig) -> Result<Prices, PriceError> {
        let builtin: PriceTable = toml::from_str(BUILTIN).map_err(PriceError::Builtin)?;
        let over = &config.table;
        let mut table = if config.builtin {
            builtin.clone()
        } else {
            PriceTable::default()
        };
        for (key, info) in &over.providers {
            let held = table.providers.entry(key.to_ascii_lowercase()).or_default();
            if info.source.is_some() {
                held.source = info.source.clone();
            }
            held.names.extend(info.names.iter().cloned());
        }
        merge(&mut table.llm, &over.llm);
        merge(&mut table.stt, &over.stt);
        merge(&mut table.tts, &over.tts);
        check(&table.llm)?;
        check(&table.stt)?;
        check(&table.tts)?;
        let overridden =
            !(over.llm.is_empty() && over.stt.is_empty() && over.tts.is_empty() && config.builtin);
        let base = builtin.version.unwrap_or_default();
        let version = match (&over.version, overridden) {
            (Some(own), _) => own.clone(),
            (None, true) => format!("{base}+config"),
            (None, false) => base,
        };
        Ok(Prices { version, table })
    }

    /// The shipped table alone.
    pub fn builtin() -> Result<Prices, PriceError> {
        Prices::resolve(&PricesConfig::default())
    }

    /// The key of the provider named `name` (its key or one of its names), if any.
    fn provider_key(&self, name: &str) -> Option<&str> {
        let name = name.trim();
        self.table
            .providers
            .iter()
            .find(|(key, info)| {
                key.eq_ignore_ascii_case(name)
                    || info.names.iter().any(|n| n.eq_ignore_ascii_case(name))
            })
            .map(|(key, _)| key.as_str())
    }

    fn find<'a, T: Entry>(
        &self,
        entries: &'a [T],
        provider: Option<&str>,
        model: Option<&str>,
    ) -> Result<Found<'a, T>, Miss> {
        let key = match provider {
            Some(name) => Some(self.provider_key(name).ok_or(Miss::UnknownProvider)?),
            None => None,
        };
        let model = normalise(model.ok_or(Miss::UnknownModel)?);
        let candidates: Vec<&T> = entries
            .iter()
            .filter(|e| key.is_none_or(|k| e.provider().eq_ignore_ascii_case(k)))
            .collect();
        let pick = |model: &str| -> Option<&'a T> {
            let exact: Vec<&T> = candidates
                .iter()
                .copied()
                // Compared in place, not as a normalised copy of every entry's model per
                // look-up (pricing was 2% of serve's CPU under load: profile-ingest.sh).
                .filter(|e| name_part(e.model()).eq_ignore_ascii_case(model))
                .collect();
            if let [one] = exact[..] {
                return Some(one);
            }
            if !exact.is_empty() {
                return None; // the same model under several providers, none named
            }
            // The longest pattern wins (`aura-2*` over `aura*`).
            let mut globs: Vec<&T> = candidates
                .iter()
                .copied()
                .filter(|e| e.model().ends_with('*') && matches(&normalise(e.model()), model))
                .collect();
            globs.sort_by_key(|e| std::cmp::Reverse(e.model().len()));
            globs.first().copied()
        };
        let found = pick(&model).or_else(|| undated(&model).and_then(pick));
        found
            .map(|price| Found {
                price,
                key: (price.provider(), price.model()),
            })
            .ok_or(Miss::UnknownModel)
    }

    /// The price of a language or speech-to-speech model.
    pub fn llm(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
    ) -> Result<Found<'_, LlmPrice>, Miss> {
        self.find(&self.table.llm, provider, model)
    }

    /// The price of a speech-to-text model.
    pub fn stt(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
    ) -> Result<Found<'_, SttPrice>, Miss> {
        self.find(&self.table.stt, provider, model)
    }

    /// The price of a text-to-speech model.
    pub fn tts(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
    ) -> Result<Found<'_, TtsPrice>, Miss> {
        self.find(&self.table.tts, provider, model)
    }

    /// Every provider with its source page.
    pub fn providers(&self) -> &BTreeMap<String, ProviderInfo> {
        &self.table.providers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> Prices {
        Prices::builtin().unwrap()
    }

    #[test]
    fn the_shipped_table_parses_dates_itself_and_cites_every_provider() {
        let prices = builtin();
        assert_eq!(prices.version, "2026-12-01");
        for (key, info) in prices.providers() {
            let source = info.source.as_deref().unwrap_or_default();
            assert!(source.starts_with("https://"), "{key} has no source");
        }
        let table = &prices.table;
        let providers: Vec<&str> = table
            .llm
            .iter()
            .map(|e| e.provider.as_str())
            .chain(table.stt.iter().map(|e| e.provider.as_str()))
            .chain(table.tts.iter().map(|e| e.provider.as_str()))
            .collect();
        for provider in providers {
            assert!(prices.providers().contains_key(provider), "{provider}");
        }
    }

    #[test]
    fn providers_match_their_names_and_models_their_snapshots() {
        let prices = builtin();
        let mini = prices
            .llm(Some("api.openai.com"), Some("gpt-4o-mini-2024-07-18"))
            .unwrap();
        assert_eq!(mini.key, ("openai", "gpt-4o-mini"));
        assert_eq!(mini.price.input, Some(0.15));
        let sonnet = prices
            .llm(Some("Anthropic"), Some("claude-sonnet-4-20250514"))
            .unwrap();
        assert_eq!(sonnet.key.1, "claude-sonnet-4");
        let vendor = prices
            .llm(Some("groq"), Some("openai/gpt-oss-120b"))
            .unwrap();
        assert_eq!(vendor.key.1, "gpt-oss-120b");
        assert_eq!(
            prices
                .stt(Some("Deepgram"), Some("nova-3"))
                .unwrap()
                .price
                .per_minute,
            0.0059
        );
    }

    #[test]
    fn the_longest_pattern_names_a_voice_model() {
        let prices = builtin();
        let aura2 = prices
            .tts(Some("deepgram"), Some("aura-2-thalia-en"))
            .unwrap();
        assert_eq!(aura2.price.per_million_characters, 30.0);
        let aura = prices
            .tts(Some("deepgram"), Some("aura-asteria-en"))
            .unwrap();
        assert_eq!(aura.price.per_million_characters, 15.0);
        assert!(prices.tts(Some("Cartesia"), Some("sonic-2")).is_ok());
    }

    #[test]
    fn unknown_providers_and_models_miss_never_price_at_zero() {
        let prices = builtin();
        assert_eq!(
            prices.llm(Some("fake"), Some("gpt-4o")).unwrap_err(),
            Miss::UnknownProvider
        );
        assert_eq!(
            prices.llm(Some("openai"), Some("gpt-9")).unwrap_err(),
            Miss::UnknownModel
        );
        assert_eq!(
            prices.llm(Some("openai"), None).unwrap_err(),
            Miss::UnknownModel
        );
        // No provider: the model alone, when one entry has it.
        assert_eq!(prices.llm(None, Some("gpt-4o")).unwrap().key.0, "openai");
        // `gpt-4o` is not a prefix match for `gpt-4o-mini-tts`.
        assert!(prices.tts(Some("openai"), Some("gpt-4o-mini-tts")).is_err());
    }

    #[test]
    fn the_configuration_replaces_and_adds_entries_and_says_so() {
        let config: PricesConfig = toml::from_str(
            r#"
            [providers.acme]
            names = ["Acme Speech"]
            [[llm]]
            provider = "openai"
            model = "gpt-4o-mini"
            input = 0.10
            output = 0.40
            [[stt]]
            provider = "acme"
            model = "ears-1"
            per_minute = 0.001
            "#,
        )
        .unwrap();
        let prices = Prices::resolve(&config).unwrap();
        assert_eq!(prices.version, "2026-12-01+config");
        let mini = prices.llm(Some("openai"), Some("gpt-4o-mini")).unwrap();
        assert_eq!(
            (mini.price.input, mini.price.cached_input),
            (Some(0.10), None)
        );
        assert_eq!(
            prices
                .stt(Some("acme speech"), Some("ears-1"))
                .unwrap()
                .price
                .per_minute,
            0.001
        );
        assert!(
            prices.llm(Some("openai"), Some("gpt-4o")).is_ok(),
            "the rest stays"
        );

        let alone: PricesConfig =
            toml::from_str("builtin = false\nversion = \"ours-3\"\n[[tts]]\nprovider = \"x\"\nmodel = \"y\"\nper_million_characters = 1.0\n")
                .unwrap();
        let prices = Prices::resolve(&alone).unwrap();
        assert_eq!(prices.version, "ours-3");
        assert!(prices.llm(Some("openai"), Some("gpt-4o")).is_err());
    }

    #[test]
    fn a_negative_price_is_refused_by_name() {
        let config: PricesConfig = toml::from_str(
            "[[stt]]\nprovider = \"deepgram\"\nmodel = \"nova-3\"\nper_minute = -1.0\n",
        )
        .unwrap();
        let error = Prices::resolve(&config).unwrap_err().to_string();
        assert!(error.contains("deepgram/nova-3"), "{error}");
    }

    #[test]
    fn snapshots_are_dates_only() {
        assert_eq!(undated("gpt-4o-mini-2024-07-18"), Some("gpt-4o-mini"));
        assert_eq!(
            undated("claude-3-5-haiku-20241022"),
            Some("claude-3-5-haiku")
        );
        assert_eq!(undated("gpt-4o-mini"), None);
        assert_eq!(undated("nova-3"), None);
    }
}
