//! Redaction as configured, split into what each stage of the receiver gets: the redactor of
//! the stages before the store (`mode = "store"`), the one of the sinks marked
//! `redact = true` (either mode), and the attribute keys ingest drops (whatever the mode).

use std::sync::Arc;

use super::{DroppedAttributes, RedactionConfig, RedactionError, RedactionMode, Redactor};

/// The `[redaction]` table, compiled once at start.
#[derive(Debug)]
pub struct Redaction {
    /// None when redaction is off.
    redactor: Option<Arc<Redactor>>,
    mode: RedactionMode,
    dropped: DroppedAttributes,
}

impl Redaction {
    /// Compiles the detectors and rules (none when off) and the keys to drop.
    pub fn new(config: &RedactionConfig) -> Result<Redaction, RedactionError> {
        let redactor = match config.mode {
            RedactionMode::Off => None,
            RedactionMode::Store | RedactionMode::Sinks => Some(Arc::new(Redactor::new(config)?)),
        };
        Ok(Redaction {
            redactor,
            mode: config.mode,
            dropped: DroppedAttributes::new(&config.drop_attributes)?,
        })
    }

    /// Where redaction applies.
    pub fn mode(&self) -> RedactionMode {
        self.mode
    }

    /// The redactor of the stages before the store: assembly's updates and the chat histories
    /// of recordings (`store` mode only).
    pub fn before_store(&self) -> Option<Arc<Redactor>> {
        self.redactor
            .clone()
            .filter(|_| self.mode == RedactionMode::Store)
    }

    /// The redactor of the sinks marked `redact = true` (none when off: such a sink is refused).
    pub fn for_sinks(&self) -> Option<Arc<Redactor>> {
        self.redactor.clone()
    }

    /// The attribute keys ingest drops.
    pub fn dropped(&self) -> DroppedAttributes {
        self.dropped.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redaction(mode: RedactionMode) -> Redaction {
        Redaction::new(&RedactionConfig {
            mode,
            ..RedactionConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn each_mode_gives_each_stage_its_redactor() {
        let answers = |r: Redaction| (r.before_store().is_some(), r.for_sinks().is_some());
        assert_eq!(answers(redaction(RedactionMode::Off)), (false, false));
        assert_eq!(answers(redaction(RedactionMode::Store)), (true, true));
        assert_eq!(answers(redaction(RedactionMode::Sinks)), (false, true));
    }
}
