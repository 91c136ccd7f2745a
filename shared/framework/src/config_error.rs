//! Why the environment and the registered functions do not make a server: each case with
//! what to fix. A binary prints it and exits at once, as the official frameworks do.

use std::fmt;

use settings_reader::SettingErrors;

use super::signature::SignatureType;

/// A configuration the framework cannot serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// Settings that are not what they must be, every one of them.
    Settings(SettingErrors),
    /// The binary registers no function at all.
    NothingRegistered,
    /// No registered function has the target's name and the signature type.
    NoSuchFunction {
        /// `FUNCTION_TARGET`, when set.
        target: Option<String>,
        /// `FUNCTION_SIGNATURE_TYPE`, when set.
        signature_type: Option<SignatureType>,
        /// What the binary registers.
        registered: Vec<(String, SignatureType)>,
    },
    /// Several registered functions fit; `FUNCTION_TARGET` must name one.
    Ambiguous {
        /// The functions that fit.
        candidates: Vec<(String, SignatureType)>,
    },
}

fn listed(functions: &[(String, SignatureType)]) -> String {
    functions
        .iter()
        .map(|(name, signature)| format!("{name} ({signature})"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Settings(errors) => write!(f, "{errors}"),
            Self::NothingRegistered => f.write_str("this binary registers no function"),
            Self::NoSuchFunction {
                target,
                signature_type,
                registered,
            } => {
                let has = listed(registered);
                match (target, signature_type) {
                    (Some(t), Some(s)) => {
                        write!(f, "no {s} function named {t:?}; this binary has: {has}")
                    }
                    (Some(t), None) => write!(f, "no function named {t:?}; this binary has: {has}"),
                    (None, Some(s)) => write!(f, "no {s} function; this binary has: {has}"),
                    (None, None) => write!(f, "no function fits; this binary has: {has}"),
                }
            }
            Self::Ambiguous { candidates } => write!(
                f,
                "set FUNCTION_TARGET to pick one of: {}",
                listed(candidates)
            ),
        }
    }
}

impl std::error::Error for ConfigError {}
