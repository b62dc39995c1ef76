//! Product catalogues: the TOML file that gives products, tiers and features their names.
//!
//! Licences carry numbers (product id, tier index, feature bits); tools and the issuer read a catalogue
//! to let people use names instead:
//!
//! ```toml
//! [[products]]
//! id = 1
//! name = "acme-editor"
//! tiers = ["free", "pro", "team"]                          # lowest to highest
//! features = ["export", "sync", "cloud", "ai", "plugins"]  # bit 0, 1, …
//! ```
//!
//! Every catalogue is validated when it is built or read, so a [`Catalog`] in hand always has unique
//! product ids and names, at most 256 tiers and 64 features per product, and names that cannot be
//! mistaken for numbers.
//!
//! ```
//! use tessera_keys::Catalog;
//!
//! let catalog = Catalog::from_toml_str(r#"
//!     [[products]]
//!     id = 1
//!     name = "acme-editor"
//!     tiers = ["free", "pro", "team"]
//!     features = ["export", "sync"]
//! "#)?;
//! let editor = catalog.lookup("acme-editor").expect("listed");
//! assert_eq!(catalog.lookup("1"), Some(editor));
//! assert_eq!(editor.tier_index("pro"), Some(1));
//!
//! // The verifier takes the same tables as a `Product`.
//! let tables = editor.tables();
//! assert_eq!(tables.product().feature_bit("sync"), Some(1));
//! # Ok::<(), tessera_keys::CatalogError>(())
//! ```

use core::fmt;
use std::borrow::ToOwned;
use std::io;
use std::path::Path;
use std::string::String;
use std::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::{FeatureSet, Product};

/// The most tiers a product can have: a licence carries the tier index as one byte.
const MAX_TIERS: usize = 256;

/// A validated list of products.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CatalogFile")]
pub struct Catalog {
    products: Vec<ProductSpec>,
}

/// What a catalogue file holds, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    products: Vec<ProductSpec>,
}

/// A file whose `products` stand among other settings, as in the issuer's config file: the other
/// settings are for whoever reads them (the issuer checks its own), the products are checked as in a
/// catalogue file.
#[derive(Deserialize)]
struct ProductsAmongSettings {
    products: Option<Vec<ProductSpec>>,
}

impl TryFrom<CatalogFile> for Catalog {
    type Error = CatalogError;

    fn try_from(file: CatalogFile) -> Result<Self, Self::Error> {
        Catalog::new(file.products)
    }
}

/// One product of a catalogue: its id, name, tier ladder and feature table.
///
/// The fields are public so that specs can be built in code; [`Catalog::new`] and
/// [`ProductSpec::validate`] check them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSpec {
    /// The number licences carry for this product.
    pub id: u32,
    /// The product's name, unique in the catalogue; never empty or all digits.
    pub name: String,
    /// Tier names from lowest to highest; a licence's tier is an index into this list.
    pub tiers: Vec<String>,
    /// Feature names; feature bit `n` is entry `n` (at most 64).
    #[serde(default)]
    pub features: Vec<String>,
}

impl Catalog {
    /// A catalogue of `products`, validated.
    pub fn new(products: Vec<ProductSpec>) -> Result<Catalog, CatalogError> {
        for (index, product) in products.iter().enumerate() {
            product.validate()?;
            let earlier = &products[..index];
            if earlier.iter().any(|other| other.id == product.id) {
                return Err(CatalogError::DuplicateId { id: product.id });
            }
            if earlier.iter().any(|other| other.name == product.name) {
                return Err(CatalogError::DuplicateName {
                    name: product.name.clone(),
                });
            }
        }
        Ok(Catalog { products })
    }

    /// Parses and validates a catalogue in TOML.
    ///
    /// Other settings may stand beside `[[products]]`, so that the issuer's config file is a catalogue
    /// too; each product is read as strictly as in a catalogue file of its own. A file without
    /// `[[products]]` must hold nothing else, so that a misspelt `[[product]]` is an error rather
    /// than an empty catalogue.
    pub fn from_toml_str(text: &str) -> Result<Catalog, CatalogError> {
        let syntax = |err: toml::de::Error| {
            let (line, column) = err
                .span()
                .map(|span| line_and_column(text, span.start))
                .unwrap_or((1, 1));
            CatalogError::Syntax {
                line,
                column,
                message: err.message().trim().to_owned(),
            }
        };
        let products = match toml::from_str::<ProductsAmongSettings>(text).map_err(syntax)? {
            ProductsAmongSettings {
                products: Some(products),
            } => products,
            ProductsAmongSettings { products: None } => {
                toml::from_str::<CatalogFile>(text)
                    .map_err(syntax)?
                    .products
            }
        };
        Catalog::new(products)
    }

    /// Reads and validates a catalogue file.
    pub fn read_file(path: &Path) -> Result<Catalog, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(CatalogError::Io)?;
        Catalog::from_toml_str(&text)
    }

    /// The products, in the order the catalogue lists them.
    pub fn products(&self) -> &[ProductSpec] {
        &self.products
    }

    /// The product with id `id`.
    pub fn by_id(&self, id: u32) -> Option<&ProductSpec> {
        self.products.iter().find(|product| product.id == id)
    }

    /// The product named `name`.
    pub fn by_name(&self, name: &str) -> Option<&ProductSpec> {
        self.products.iter().find(|product| product.name == name)
    }

    /// The product named `name_or_id`, or, if it is all digits, the product with that id.
    ///
    /// Names are never all digits, so the two cannot be confused.
    pub fn lookup(&self, name_or_id: &str) -> Option<&ProductSpec> {
        match parse_number(name_or_id) {
            Some(id) => self.by_id(id),
            None => self.by_name(name_or_id),
        }
    }
}

impl ProductSpec {
    /// Checks the names and the sizes of the tables.
    pub fn validate(&self) -> Result<(), CatalogError> {
        let product = self.id;
        if !is_valid_name(&self.name) {
            return Err(CatalogError::InvalidName {
                product,
                field: "name",
                name: self.name.clone(),
            });
        }
        if self.tiers.is_empty() {
            return Err(CatalogError::NoTiers { product });
        }
        if self.tiers.len() > MAX_TIERS {
            return Err(CatalogError::TooManyTiers {
                product,
                count: self.tiers.len(),
            });
        }
        if self.features.len() > usize::from(FeatureSet::CAPACITY) {
            return Err(CatalogError::TooManyFeatures {
                product,
                count: self.features.len(),
            });
        }
        for (field, names) in [("tiers", &self.tiers), ("features", &self.features)] {
            for (index, name) in names.iter().enumerate() {
                if !is_valid_name(name) {
                    return Err(CatalogError::InvalidName {
                        product,
                        field,
                        name: name.clone(),
                    });
                }
                if names[..index].contains(name) {
                    return Err(CatalogError::DuplicateEntry {
                        product,
                        field,
                        name: name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The index of tier `name`.
    pub fn tier_index(&self, name: &str) -> Option<u8> {
        position(&self.tiers, name)
    }

    /// The name of tier `index`.
    pub fn tier_name(&self, index: u8) -> Option<&str> {
        self.tiers.get(usize::from(index)).map(String::as_str)
    }

    /// The bit of feature `name`.
    pub fn feature_bit(&self, name: &str) -> Option<u8> {
        position(&self.features, name).filter(|&bit| bit < FeatureSet::CAPACITY)
    }

    /// The name of feature `bit`.
    pub fn feature_name(&self, bit: u8) -> Option<&str> {
        self.features.get(usize::from(bit)).map(String::as_str)
    }

    /// The product's tables in the borrowed shape the verifier takes; see [`ProductTables::product`].
    pub fn tables(&self) -> ProductTables<'_> {
        ProductTables {
            id: self.id,
            name: &self.name,
            tiers: self.tiers.iter().map(String::as_str).collect(),
            features: self.features.iter().map(String::as_str).collect(),
        }
    }
}

/// A product's tables as string slices, from which a [`Product`] can borrow.
///
/// [`Product`] holds `&[&str]` so that apps can write it as a `const`; a catalogue holds `String`s, so
/// this keeps the slices of slices alive while a verifier uses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductTables<'a> {
    id: u32,
    name: &'a str,
    tiers: Vec<&'a str>,
    features: Vec<&'a str>,
}

impl ProductTables<'_> {
    /// The product as the verifier takes it.
    pub fn product(&self) -> Product<'_> {
        Product {
            id: self.id,
            name: self.name,
            tiers: &self.tiers,
            features: &self.features,
        }
    }
}

/// Why a catalogue could not be read or is not valid.
#[derive(Debug)]
#[non_exhaustive]
pub enum CatalogError {
    /// The file could not be read.
    Io(io::Error),
    /// The text is not TOML, or not shaped like a catalogue (a missing or unknown field, a wrong type).
    Syntax {
        /// The line of the problem, from 1.
        line: usize,
        /// The column of the problem, from 1, in characters.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Two products have the same id.
    DuplicateId {
        /// The repeated id.
        id: u32,
    },
    /// Two products have the same name.
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// A product, tier or feature name is empty or all digits (which would read as a number).
    InvalidName {
        /// The id of the product.
        product: u32,
        /// The field holding the name: `name`, `tiers` or `features`.
        field: &'static str,
        /// The name.
        name: String,
    },
    /// A tier or feature name is listed twice for one product.
    DuplicateEntry {
        /// The id of the product.
        product: u32,
        /// The field: `tiers` or `features`.
        field: &'static str,
        /// The repeated name.
        name: String,
    },
    /// A product lists no tiers.
    NoTiers {
        /// The id of the product.
        product: u32,
    },
    /// A product lists more than 256 tiers, more than a licence's one-byte tier index can name.
    TooManyTiers {
        /// The id of the product.
        product: u32,
        /// How many it lists.
        count: usize,
    },
    /// A product lists more than 64 features.
    TooManyFeatures {
        /// The id of the product.
        product: u32,
        /// How many it lists.
        count: usize,
    },
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::Io(_) => f.write_str("cannot read catalogue"),
            CatalogError::Syntax {
                line,
                column,
                message,
            } => write!(f, "invalid catalogue at line {line}, column {column}: {message}"),
            CatalogError::DuplicateId { id } => write!(f, "product id {id} is listed twice"),
            CatalogError::DuplicateName { name } => {
                write!(f, "product name `{name}` is listed twice")
            }
            CatalogError::InvalidName {
                product,
                field,
                name,
            } => write!(
                f,
                "product {product}: `{field}` has the name `{name}`, but names must not be empty or all digits"
            ),
            CatalogError::DuplicateEntry {
                product,
                field,
                name,
            } => write!(f, "product {product}: `{field}` lists `{name}` twice"),
            CatalogError::NoTiers { product } => {
                write!(f, "product {product}: `tiers` must list at least one tier")
            }
            CatalogError::TooManyTiers { product, count } => write!(
                f,
                "product {product}: `tiers` lists {count} tiers, more than the {MAX_TIERS} a licence can carry"
            ),
            CatalogError::TooManyFeatures { product, count } => write!(
                f,
                "product {product}: `features` lists {count} features, more than the {} a licence can carry",
                FeatureSet::CAPACITY
            ),
        }
    }
}

impl std::error::Error for CatalogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CatalogError::Io(err) => Some(err),
            _ => None,
        }
    }
}

/// Names must be non-empty and not all digits, so that "2" on a command line always means a number.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.bytes().all(|b| b.is_ascii_digit())
}

/// A decimal number as a catalogue lookup reads it: ASCII digits only, no sign.
fn parse_number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn position(names: &[String], name: &str) -> Option<u8> {
    names
        .iter()
        .position(|candidate| candidate == name)
        .and_then(|index| u8::try_from(index).ok())
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::{format, vec};

    const EDITOR: &str = r#"
        [[products]]
        id = 1
        name = "acme-editor"
        tiers = ["free", "pro", "team"]
        features = ["export", "sync", "cloud", "ai", "plugins"]

        [[products]]
        id = 7
        name = "acme-viewer"
        tiers = ["basic"]
    "#;

    fn spec(id: u32, name: &str) -> ProductSpec {
        ProductSpec {
            id,
            name: name.to_owned(),
            tiers: vec!["free".to_owned(), "pro".to_owned()],
            features: vec!["export".to_owned()],
        }
    }

    #[test]
    fn reads_and_looks_up() {
        let catalog = Catalog::from_toml_str(EDITOR).unwrap();
        assert_eq!(catalog.products().len(), 2);
        let editor = catalog.by_name("acme-editor").unwrap();
        assert_eq!(catalog.by_id(1), Some(editor));
        assert_eq!(catalog.lookup("1"), Some(editor));
        assert_eq!(catalog.lookup("acme-editor"), Some(editor));
        assert_eq!(catalog.lookup("2"), None);
        assert_eq!(catalog.lookup("nope"), None);
        assert_eq!(editor.tier_index("team"), Some(2));
        assert_eq!(editor.tier_name(1), Some("pro"));
        assert_eq!(editor.tier_name(3), None);
        assert_eq!(editor.feature_bit("plugins"), Some(4));
        assert_eq!(editor.feature_name(0), Some("export"));
        let viewer = catalog.lookup("7").unwrap();
        assert!(viewer.features.is_empty());

        let tables = editor.tables();
        let product = tables.product();
        assert_eq!(product.id, 1);
        assert_eq!(product.name, "acme-editor");
        assert_eq!(product.tier_index("pro"), Some(1));
        assert_eq!(product.feature_name(3), Some("ai"));
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = Catalog::from_toml_str(
            "[[products]]\nid = 1\nname = \"a\"\ntiers = [\"x\"]\ncolour = 3\n",
        )
        .unwrap_err();
        match &err {
            CatalogError::Syntax { line, message, .. } => {
                assert_eq!(*line, 5, "{err}");
                assert!(message.contains("colour"), "{err}");
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().starts_with("invalid catalogue at line 5"));

        let err = Catalog::from_toml_str("[[products]]\nid = \"one\"\n").unwrap_err();
        assert!(matches!(err, CatalogError::Syntax { line: 2, .. }), "{err}");
        assert!(matches!(
            Catalog::from_toml_str("not toml at all"),
            Err(CatalogError::Syntax { .. })
        ));
        assert_eq!(Catalog::from_toml_str("").unwrap().products().len(), 0);
    }

    #[test]
    fn products_may_stand_among_other_settings_but_stay_strict() {
        let config = format!(
            "listen = \"127.0.0.1:0\"\n[admin]\ntokens = []\n{EDITOR}\n[[prices]]\nid = \"p\"\n"
        );
        let catalog = Catalog::from_toml_str(&config).unwrap();
        assert_eq!(catalog.products().len(), 2);

        let typo = format!(
            "[admin]\ntokens = []\n{}",
            EDITOR.replace("tiers = [\"basic\"]", "teirs = [\"basic\"]")
        );
        let err = Catalog::from_toml_str(&typo).unwrap_err();
        assert!(err.to_string().contains("teirs"), "{err}");

        // Without any `products`, other settings are not a catalogue.
        let err = Catalog::from_toml_str("[[product]]\nid = 1\nname = \"a\"\ntiers = [\"x\"]\n")
            .unwrap_err();
        assert!(
            matches!(&err, CatalogError::Syntax { line: 1, message, .. } if message.contains("product")),
            "{err}"
        );
    }

    #[test]
    fn rejects_invalid_catalogues() {
        let err = Catalog::new(vec![spec(1, "a"), spec(1, "b")]).unwrap_err();
        assert!(matches!(err, CatalogError::DuplicateId { id: 1 }));
        assert_eq!(err.to_string(), "product id 1 is listed twice");

        let err = Catalog::new(vec![spec(1, "a"), spec(2, "a")]).unwrap_err();
        assert!(matches!(err, CatalogError::DuplicateName { ref name } if name == "a"));

        for bad in ["", "123"] {
            let err = Catalog::new(vec![spec(1, bad)]).unwrap_err();
            assert!(
                matches!(err, CatalogError::InvalidName { field: "name", .. }),
                "{err}"
            );
        }

        let mut product = spec(3, "c");
        product.tiers.push("2".to_owned());
        let err = product.validate().unwrap_err();
        assert!(matches!(
            err,
            CatalogError::InvalidName {
                product: 3,
                field: "tiers",
                ..
            }
        ));
        assert!(err.to_string().contains("`tiers`"), "{err}");

        let mut product = spec(3, "c");
        product.features.push("export".to_owned());
        let err = product.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "product 3: `features` lists `export` twice"
        );

        let mut product = spec(3, "c");
        product.tiers.clear();
        assert!(matches!(
            product.validate(),
            Err(CatalogError::NoTiers { product: 3 })
        ));

        let mut product = spec(3, "c");
        product.tiers = (0..257).map(|i| format!("t{i}")).collect();
        assert!(matches!(
            product.validate(),
            Err(CatalogError::TooManyTiers { count: 257, .. })
        ));
        product.tiers.pop();
        assert!(product.validate().is_ok());

        let mut product = spec(3, "c");
        product.features = (0..65).map(|i| format!("f{i}")).collect();
        let err = product.validate().unwrap_err();
        assert!(matches!(
            err,
            CatalogError::TooManyFeatures { count: 65, .. }
        ));
        assert!(err.to_string().contains("`features`"), "{err}");
        product.features.pop();
        assert!(product.validate().is_ok());
        assert_eq!(product.feature_bit("f63"), Some(63));
    }

    #[test]
    fn validates_when_deserialized_directly() {
        let result: Result<Catalog, _> =
            toml::from_str("[[products]]\nid = 1\nname = \"1\"\ntiers = [\"free\"]\n");
        let err = result.unwrap_err();
        assert!(err.message().contains("`name`"), "{err}");
        let io = CatalogError::Io(io::Error::new(io::ErrorKind::NotFound, "gone"));
        assert_eq!(io.to_string(), "cannot read catalogue");
        assert!(std::error::Error::source(&io).is_some());
    }
}
