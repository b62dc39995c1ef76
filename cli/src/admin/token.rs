//! `tessera admin token`: a new admin token, made offline, and the line for the issuer's config.

use sha2::{Digest, Sha256};

use super::args::TokenArgs;
use crate::exit::Result;
use crate::json::AdminToken;
use crate::output::{hex, print, print_json};

/// What every admin token starts with.
const TOKEN_PREFIX: &str = "tsadm_";

/// Makes a token of 32 random bytes and prints it with its SHA-256, which is all the issuer keeps.
pub(super) fn run(args: &TokenArgs, json: bool) -> Result {
    let random: [u8; 32] = rand::random();
    let token = format!("{TOKEN_PREFIX}{}", hex(&random));
    let output = AdminToken {
        sha256: hex(&Sha256::digest(token.as_bytes())),
        name: args.name.clone(),
        token,
    };
    if json {
        print_json(&output)
    } else {
        print(&text(&output))
    }
}

fn text(output: &AdminToken) -> String {
    // A JSON string is a TOML basic string too (names hold no control characters).
    let name = serde_json::Value::from(output.name.as_str());
    format!(
        "Admin token for {name} (printed only now; its holder sets TESSERA_TOKEN to it):\n  {}\n\n\
         Add this to `tokens` under [admin] in the issuer's config, which keeps only the hash, and \
         restart the issuer:\n  {{ name = {name}, sha256 = \"{}\" }}\n",
        output.token, output.sha256
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_line_quotes_the_name() {
        let output = AdminToken {
            token: "tsadm_00".to_owned(),
            name: "o\"brien \\ support".to_owned(),
            sha256: "ab".to_owned(),
        };
        let text = text(&output);
        assert!(
            text.contains(r#"{ name = "o\"brien \\ support", sha256 = "ab" }"#),
            "{text}"
        );
        assert!(text.contains("\n  tsadm_00\n"), "{text}");
    }
}
