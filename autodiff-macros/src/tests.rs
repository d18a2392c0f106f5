//! Snapshot tests of the generated code and derivations (reviewed like code), and the promise
//! that the expansion never panics.

use proc_macro2::TokenStream;
use quote::quote;

use crate::expand::expand;

/// The expansion, pretty-printed.
fn expanded(attr: TokenStream, item: TokenStream) -> String {
    let tokens = expand(attr, item);
    let file: syn::File = syn::parse2(tokens).expect("the expansion parses as items");
    prettyplease::unparse(&file)
}

#[test]
fn linear_expansion() {
    insta::assert_snapshot!(expanded(
        quote!(),
        quote! {
            fn linear(x: &Matrix<f64>, w: &Matrix<f64>) -> Matrix<f64> {
                let y = x.matmul(w);
                y
            }
        }
    ));
}

#[test]
fn mlp_expansion() {
    insta::assert_snapshot!(expanded(
        quote!(wrt(w1, b1, w2, b2)),
        quote! {
            fn mlp_loss(
                x: &Matrix<f64>,
                w1: &Matrix<f64>,
                b1: &Matrix<f64>,
                w2: &Matrix<f64>,
                b2: &Matrix<f64>,
                y: &Matrix<f64>,
            ) -> f64 {
                let z1 = x.matmul(w1) + b1;
                let h = z1.relu();
                let z2 = h.matmul(w2) + b2;
                let lp = z2.log_softmax();
                let row_loss = -(y * &lp).sum_axis(1);
                let loss = row_loss.mean();
                loss
            }
        }
    ));
}
