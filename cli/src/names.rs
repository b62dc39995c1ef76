//! Products, tiers and features given by number or by catalogue name.

use std::path::Path;

use tessera_keys::{Catalog, CatalogError, FeatureSet, ProductSpec};

use crate::exit::{Exit, Failure, Result};
use crate::input::Ref;

/// The catalogue, if one was given.
#[derive(Debug, Default)]
pub(crate) struct Names {
    catalog: Option<Catalog>,
}

/// A product picked on the command line: its id, and its tables if the catalogue lists it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Selected<'c> {
    pub(crate) id: u32,
    pub(crate) spec: Option<&'c ProductSpec>,
}

impl Names {
    /// Reads the catalogue at `path`, if any.
    pub(crate) fn load(path: Option<&Path>) -> Result<Names> {
        let Some(path) = path else {
            return Ok(Names::default());
        };
        let catalog = Catalog::read_file(path).map_err(|err| {
            let message = match &err {
                CatalogError::Io(io) => format!("cannot read catalogue {}: {io}", path.display()),
                CatalogError::Syntax {
                    line,
                    column,
                    message,
                } => format!(
                    "invalid catalogue {}, line {line}, column {column}: {message}",
                    path.display()
                ),
                other => format!("invalid catalogue {}: {other}", path.display()),
            };
            Failure::msg(Exit::Input, message)
        })?;
        Ok(Names {
            catalog: Some(catalog),
        })
    }

    /// The catalogue entry for product `id`.
    pub(crate) fn spec(&self, id: u32) -> Option<&ProductSpec> {
        self.catalog.as_ref()?.by_id(id)
    }

    /// The catalogue's product when it lists exactly one.
    pub(crate) fn only_product(&self) -> Option<Selected<'_>> {
        match self.catalog.as_ref()?.products() {
            [spec] => Some(Selected {
                id: spec.id,
                spec: Some(spec),
            }),
            _ => None,
        }
    }

    /// Fails, as a usage error, if `what` is a name and there is no catalogue to look it up in.
    pub(crate) fn check_lookup(&self, what: &str, given: &Ref) -> Result {
        match (given, &self.catalog) {
            (Ref::Name(name), None) => Err(needs_catalogue(what, name)),
            _ => Ok(()),
        }
    }

    /// The product `given` names; a usage error if there is no such product.
    pub(crate) fn product(&self, given: &Ref) -> Result<Selected<'_>> {
        let usage = |message: String| Failure::msg(Exit::Usage, message);
        match (given, &self.catalog) {
            (Ref::Number(number), _) => {
                let id = u32::try_from(*number).map_err(|_| {
                    usage(format!(
                        "product {number} is out of range (0 to {})",
                        u32::MAX
                    ))
                })?;
                Ok(Selected {
                    id,
                    spec: self.spec(id),
                })
            }
            (Ref::Name(name), Some(catalog)) => {
                let spec = catalog.by_name(name).ok_or_else(|| {
                    let known = catalog.products().iter().map(|p| p.name.as_str());
                    usage(format!(
                        "product `{name}` is not in the catalogue (it lists: {})",
                        list(known)
                    ))
                })?;
                Ok(Selected {
                    id: spec.id,
                    spec: Some(spec),
                })
            }
            (Ref::Name(name), None) => Err(needs_catalogue("product", name)),
        }
    }
}

impl Selected<'_> {
    /// How messages name the product.
    pub(crate) fn label(&self) -> String {
        match self.spec {
            Some(spec) => format!("product `{}`", spec.name),
            None => format!("product {}", self.id),
        }
    }

    /// The tier `given` names. Names need the catalogue to list the product; numbers need to be in
    /// its table when it does.
    pub(crate) fn tier(&self, given: &Ref) -> std::result::Result<u8, String> {
        self.lookup(
            given,
            "tier",
            |spec| &spec.tiers,
            |spec, name| spec.tier_index(name),
            u8::MAX,
        )
    }

    /// The feature bit `given` names, on the same terms as [`Selected::tier`].
    pub(crate) fn feature(&self, given: &Ref) -> std::result::Result<u8, String> {
        self.lookup(
            given,
            "feature",
            |spec| &spec.features,
            |spec, name| spec.feature_bit(name),
            FeatureSet::CAPACITY - 1,
        )
    }

    fn lookup(
        &self,
        given: &Ref,
        what: &str,
        table: impl Fn(&ProductSpec) -> &Vec<String>,
        find: impl Fn(&ProductSpec, &str) -> Option<u8>,
        max: u8,
    ) -> std::result::Result<u8, String> {
        let known = |spec: &ProductSpec| {
            let entries = table(spec)
                .iter()
                .enumerate()
                .map(|(index, name)| format!("{index} {name}"));
            format!("its {what}s: {}", list(entries))
        };
        match given {
            Ref::Number(number) => {
                let value = u8::try_from(*number)
                    .ok()
                    .filter(|&value| value <= max)
                    .ok_or_else(|| format!("{what} {number} is out of range (0 to {max})"))?;
                match self.spec {
                    Some(spec) if usize::from(value) >= table(spec).len() => Err(format!(
                        "{} has no {what} {value} ({})",
                        self.label(),
                        known(spec)
                    )),
                    _ => Ok(value),
                }
            }
            Ref::Name(name) => {
                let spec = self.spec.ok_or_else(|| {
                    format!(
                        "{what} `{name}` cannot be looked up: {} is not in the catalogue; give \
                         the {what}'s number",
                        self.label()
                    )
                })?;
                find(spec, name).ok_or_else(|| {
                    format!("{} has no {what} `{name}` ({})", self.label(), known(spec))
                })
            }
        }
    }
}

fn needs_catalogue(what: &str, name: &str) -> Failure {
    Failure::msg(
        Exit::Usage,
        format!(
            "{what} `{name}` is a name, which needs a catalogue: pass --catalog FILE (or set \
             TESSERA_CATALOG), or give the {what}'s number"
        ),
    )
}

fn list<S: AsRef<str>>(items: impl Iterator<Item = S>) -> String {
    let items: Vec<S> = items.collect();
    if items.is_empty() {
        return "none".to_owned();
    }
    items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        let catalog = Catalog::from_toml_str(
            "[[products]]\nid = 1\nname = \"acme-editor\"\ntiers = [\"free\", \"pro\"]\n\
             features = [\"export\", \"sync\"]\n",
        )
        .unwrap();
        Names {
            catalog: Some(catalog),
        }
    }

    fn name(text: &str) -> Ref {
        Ref::Name(text.to_owned())
    }

    #[test]
    fn resolves_names_and_numbers() {
        let names = names();
        let editor = names.product(&name("acme-editor")).unwrap();
        assert_eq!(editor.id, 1);
        assert_eq!(names.product(&Ref::Number(1)).unwrap().id, 1);
        assert_eq!(editor.tier(&name("pro")), Ok(1));
        assert_eq!(editor.tier(&Ref::Number(0)), Ok(0));
        assert_eq!(editor.feature(&name("sync")), Ok(1));
        let err = editor.feature(&name("ai")).unwrap_err();
        assert_eq!(
            err,
            "product `acme-editor` has no feature `ai` (its features: 0 export, 1 sync)"
        );
        assert!(editor
            .tier(&Ref::Number(2))
            .unwrap_err()
            .contains("no tier 2"));

        let other = names.product(&Ref::Number(9)).unwrap();
        assert!(other.spec.is_none());
        assert_eq!(other.tier(&Ref::Number(200)), Ok(200));
        assert!(other
            .tier(&Ref::Number(256))
            .unwrap_err()
            .contains("out of range"));
        assert_eq!(other.feature(&Ref::Number(63)), Ok(63));
        assert!(other.feature(&Ref::Number(64)).is_err());
        assert!(other
            .tier(&name("pro"))
            .unwrap_err()
            .contains("not in the catalogue"));

        let err = names.product(&name("nope")).unwrap_err();
        assert_eq!(err.exit, Exit::Usage);
        assert!(err.error.to_string().contains("it lists: acme-editor"));
    }

    #[test]
    fn names_need_a_catalogue() {
        let names = Names::default();
        let err = names.product(&name("acme-editor")).unwrap_err();
        assert_eq!(err.exit, Exit::Usage);
        assert!(err.error.to_string().contains("--catalog"));
        assert!(names.product(&Ref::Number(1)).is_ok());
    }
}
