//! The items `#[differentiable]` can generate beside a function, by the names
//! `#[differentiable(only(...))]` gives them, and sets of them: what a user asks the plan for,
//! and what the plan decides to generate.

use std::fmt;

/// One generated item: `f_grad`, `f_vjp`, ... by its name without the function's. The callee
/// building blocks are not among them: they are always generated, for other functions may call
/// this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    Grad,
    Vjp,
    Jvp,
    Hvp,
    Jacobian,
    Hessian,
    Gradcheck,
    Derivation,
    /// `f_trace_vjp` and, for a scalar result, `f_trace`.
    Trace,
}

impl Item {
    /// Every item, in the order the documentation lists them.
    pub const ALL: [Item; 9] = [
        Item::Grad,
        Item::Vjp,
        Item::Jvp,
        Item::Hvp,
        Item::Jacobian,
        Item::Hessian,
        Item::Gradcheck,
        Item::Derivation,
        Item::Trace,
    ];

    /// The name in `only(...)`, and the suffix of the generated function: `f_grad`.
    pub fn name(self) -> &'static str {
        match self {
            Item::Grad => "grad",
            Item::Vjp => "vjp",
            Item::Jvp => "jvp",
            Item::Hvp => "hvp",
            Item::Jacobian => "jacobian",
            Item::Hessian => "hessian",
            Item::Gradcheck => "gradcheck",
            Item::Derivation => "derivation",
            Item::Trace => "trace",
        }
    }

    /// The item of that name.
    pub fn from_name(name: &str) -> Option<Item> {
        Item::ALL.into_iter().find(|item| item.name() == name)
    }

    /// Whether the item exists only for a scalar result: a gradient, and what differentiates
    /// it again.
    pub fn needs_scalar_result(self) -> bool {
        matches!(self, Item::Grad | Item::Hvp | Item::Hessian)
    }

    /// Whether the item is a second derivative, which a function may not have (see
    /// [`NoSecondOrder`](super::NoSecondOrder)).
    pub fn is_second_order(self) -> bool {
        matches!(self, Item::Hvp | Item::Hessian)
    }

    fn bit(self) -> u16 {
        1 << self as u8
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Item`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Items(u16);

impl Items {
    /// Every item: what `#[differentiable]` asks for without `only(...)`.
    pub const ALL: Items = Items(u16::MAX >> (16 - Item::ALL.len()));

    /// No item.
    pub const NONE: Items = Items(0);

    pub fn contains(self, item: Item) -> bool {
        self.0 & item.bit() != 0
    }

    /// This set and `item`.
    pub fn with(self, item: Item) -> Items {
        Items(self.0 | item.bit())
    }

    /// The items of this set, in the order of [`Item::ALL`].
    pub fn iter(self) -> impl Iterator<Item = Item> {
        Item::ALL
            .into_iter()
            .filter(move |&item| self.contains(item))
    }
}

impl FromIterator<Item> for Items {
    fn from_iter<I: IntoIterator<Item = Item>>(items: I) -> Self {
        items.into_iter().fold(Items::NONE, Items::with)
    }
}

impl fmt::Debug for Items {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for item in Item::ALL {
            assert_eq!(Item::from_name(item.name()), Some(item));
        }
        assert_eq!(Item::from_name("gradient"), None);
    }

    #[test]
    fn all_holds_every_item_and_nothing_else() {
        assert_eq!(Items::ALL.iter().collect::<Vec<_>>(), Item::ALL);
        assert_eq!(Items::ALL, Item::ALL.into_iter().collect());
        assert_eq!(Items::NONE.iter().count(), 0);
        let some: Items = [Item::Vjp, Item::Grad, Item::Vjp].into_iter().collect();
        assert_eq!(some.iter().collect::<Vec<_>>(), [Item::Grad, Item::Vjp]);
        assert_eq!(format!("{some:?}"), "{Grad, Vjp}");
    }
}
