//! Deeply nested input never crashes the macro: every expansion runs on a large stack (the
//! parser and the lowering recurse once per level of nesting, and a proc macro otherwise gets
//! whatever stack rustc's thread has left), and a function nested deeper than [`MAX_NESTING`]
//! is refused with an error on the group where the limit is passed. rustc itself stops at about
//! 1,000 to 1,500 levels (parentheses) or 2,000 to 10,000 (method chains) on plain code, so the
//! limit takes nothing a compiler would accept away; it only turns a crash into a message.

use proc_macro2::{TokenStream, TokenTree};

/// The deepest nesting of brackets, parentheses and braces a function may have, the body's
/// own braces included.
pub const MAX_NESTING: usize = 1024;

/// The stack an expansion runs on: enough for [`MAX_NESTING`] levels of parentheses in `syn`
/// (a few kilobytes a level in a debug build) and for method chains far longer than rustc
/// compiles. Memory is reserved, not used, until it is touched.
const STACK_BYTES: usize = 256 << 20;

/// Runs `expansion` on a stack of [`STACK_BYTES`] (on the same thread, so the compiler's
/// proc-macro bridge still works).
pub fn on_large_stack<R>(expansion: impl FnOnce() -> R) -> R {
    stacker::grow(STACK_BYTES, expansion)
}

/// An error on the first group nested more than [`MAX_NESTING`] deep in `tokens`, if any.
/// Iterative, so it cannot overflow whatever the depth.
pub fn check_nesting(tokens: TokenStream) -> syn::Result<()> {
    let mut stack = vec![tokens.into_iter()];
    while let Some(level) = stack.last_mut() {
        match level.next() {
            Some(TokenTree::Group(group)) => {
                if stack.len() > MAX_NESTING {
                    return Err(syn::Error::new(
                        group.span(),
                        format!(
                            "this is nested more than {MAX_NESTING} levels deep (parentheses, \
                             brackets and blocks); #[differentiable] supports up to \
                             {MAX_NESTING}: name intermediate values with `let` to flatten it"
                        ),
                    ));
                }
                stack.push(group.stream().into_iter());
            }
            Some(_) => {}
            None => {
                stack.pop();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> TokenStream {
        let text = format!("{}x{}", "(".repeat(depth), ")".repeat(depth));
        text.parse().expect("balanced")
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        assert!(check_nesting(nested(MAX_NESTING)).is_ok());
    }

    #[test]
    fn nesting_past_the_limit_is_an_error() {
        let error = check_nesting(nested(MAX_NESTING + 1)).unwrap_err();
        assert!(error.to_string().contains("nested more than 1024 levels"));
        // Far past it too: the check itself does not recurse.
        assert!(check_nesting(nested(200_000)).is_err());
    }

    #[test]
    fn a_thousand_parentheses_parse_on_the_large_stack() {
        let expr = nested(1000);
        let parsed = on_large_stack(|| syn::parse2::<syn::Expr>(expr).is_ok());
        assert!(parsed);
    }
}
