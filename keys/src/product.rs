//! A product's tables: the names behind the numbers a licence carries.

/// A product as an app and the issuer know it: its id, its tier ladder and its feature table.
///
/// Licences carry the product id, a tier index and a feature bitset; this table gives them names.
/// Tiers are listed from lowest to highest, so "at least tier X" is a comparison of indexes. Appending
/// tiers or features keeps old licences meaning what they meant; reordering or removing does not.
///
/// ```
/// use tessera_keys::Product;
/// const EDITOR: Product = Product {
///     id: 1,
///     name: "acme-editor",
///     tiers: &["free", "pro", "team"],
///     features: &["export", "sync"],
/// };
/// assert_eq!(EDITOR.tier_index("pro"), Some(1));
/// assert_eq!(EDITOR.feature_bit("sync"), Some(1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Product<'a> {
    /// The number licences carry for this product.
    pub id: u32,
    /// A human-readable name, used by tools; never part of a licence.
    pub name: &'a str,
    /// Tier names from lowest to highest; a licence's tier is an index into this list.
    pub tiers: &'a [&'a str],
    /// Feature names; a licence's feature bit `n` is entry `n` of this list (at most 64).
    pub features: &'a [&'a str],
}

impl<'a> Product<'a> {
    /// The index of tier `name`.
    pub fn tier_index(&self, name: &str) -> Option<u8> {
        position(self.tiers, name)
    }

    /// The name of tier `index`.
    pub fn tier_name(&self, index: u8) -> Option<&'a str> {
        self.tiers.get(usize::from(index)).copied()
    }

    /// The bit of feature `name`.
    pub fn feature_bit(&self, name: &str) -> Option<u8> {
        position(self.features, name).filter(|&bit| bit < crate::FeatureSet::CAPACITY)
    }

    /// The name of feature `bit`.
    pub fn feature_name(&self, bit: u8) -> Option<&'a str> {
        self.features.get(usize::from(bit)).copied()
    }
}

fn position(names: &[&str], name: &str) -> Option<u8> {
    names
        .iter()
        .position(|candidate| *candidate == name)
        .and_then(|index| u8::try_from(index).ok())
}
