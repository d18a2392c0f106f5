//! The dense derivative matrices, `f_jacobian` and `f_hessian`. Each is either a batched program
//! from the engine (all directions at once: GEMMs) or, where the engine has no batched form,
//! one call per direction of the generated `f_vjp`, `f_jvp` or `f_hvp`.

use autodiff_core::symbolic::Kind;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use syn::ItemFn;

use crate::expand::{bare_or_tuple, doc_lines};
use crate::signature::{Float, Signature};

/// How a dense matrix is computed.
pub enum DenseBody {
    /// A scalar result's Jacobian: its gradient as a row.
    FromGradient,
    /// One batched block per wrt parameter, each an expression (see the item's docs).
    Batched(Vec<TokenStream>),
    /// One call of a generated function per direction.
    ByDirections,
}

/// The pieces every generated call needs.
struct Calls<'a> {
    sig: &'a Signature,
    wrt: &'a [usize],
    kernels: TokenStream,
    matrix: TokenStream,
}

impl Calls<'_> {
    /// `x: Ty` for every parameter.
    fn params(&self) -> Vec<TokenStream> {
        self.sig
            .params
            .iter()
            .map(|p| {
                let (ident, ty) = (&p.ident, &p.ty);
                quote!(#ident: #ty)
            })
            .collect()
    }

    /// The arguments of a call: each call gets its own copy (a clone of a reference is the
    /// reference, of a scalar the scalar).
    fn args(&self) -> Vec<TokenStream> {
        self.sig
            .params
            .iter()
            .map(|p| {
                let ident = &p.ident;
                quote!(::core::clone::Clone::clone(&#ident))
            })
            .collect()
    }

    /// Each wrt parameter as a reference to its value, for the shape kernels.
    fn refs(&self) -> Vec<TokenStream> {
        self.wrt
            .iter()
            .map(|&i| {
                let p = &self.sig.params[i];
                let ident = &p.ident;
                if p.tensor.is_some_and(|t| t.by_ref) {
                    quote!(#ident)
                } else {
                    quote!(&#ident)
                }
            })
            .collect()
    }

    /// `let x = &x;` for owned tensor parameters, so blocks borrow rather than move them.
    fn borrow_owned(&self) -> Vec<TokenStream> {
        self.sig
            .params
            .iter()
            .filter(|p| p.tensor.is_some_and(|t| t.kind.is_tensor() && !t.by_ref))
            .map(|p| {
                let ident = &p.ident;
                quote!(let #ident = &#ident;)
            })
            .collect()
    }

    /// The parts of a gradient-shaped value `g`: `g` for one wrt parameter, else `g.0`, `g.1`...
    fn parts(&self, g: &Ident) -> Vec<TokenStream> {
        if self.wrt.len() == 1 {
            vec![quote!(#g)]
        } else {
            (0..self.wrt.len())
                .map(|n| {
                    let n = syn::Index::from(n);
                    quote!(#g.#n)
                })
                .collect()
        }
    }

    /// The direction arguments of a jvp or hvp call along `direction` for wrt parameter `n`, the
    /// zero values `zeros` for the others (tensors by reference).
    fn directions(&self, n: usize, zeros: &[Ident]) -> Vec<TokenStream> {
        (0..self.wrt.len())
            .map(|m| {
                let value = if m == n {
                    quote!(direction)
                } else {
                    let zero = &zeros[m];
                    quote!(#zero)
                };
                let tensor = self.sig.params[self.wrt[m]]
                    .tensor
                    .is_some_and(|t| t.kind.is_tensor());
                if tensor {
                    quote!(&#value)
                } else {
                    value
                }
            })
            .collect()
    }
}

fn calls<'a>(sig: &'a Signature, wrt: &'a [usize], float: Float) -> Calls<'a> {
    Calls {
        sig,
        wrt,
        kernels: quote!(::autodiff::kernels),
        matrix: quote!(::autodiff::Matrix<#float>),
    }
}

/// `f_jacobian`: one numel(R) × numel(p) matrix per wrt parameter.
pub fn jacobian_item(
    item: &ItemFn,
    sig: &Signature,
    wrt: &[usize],
    float: Float,
    body: DenseBody,
) -> TokenStream {
    let c = calls(sig, wrt, float);
    let (vis, name) = (&item.vis, &item.sig.ident);
    let (grad_name, vjp_name, jvp_name, jacobian_name) = (
        format_ident!("{}_grad", name),
        format_ident!("{}_vjp", name),
        format_ident!("{}_jvp", name),
        format_ident!("{}_jacobian", name),
    );
    let (kernels, matrix) = (&c.kernels, &c.matrix);
    let (params, args, refs) = (c.params(), c.args(), c.refs());
    let k = wrt.len();
    let jac: Vec<Ident> = (0..k).map(|n| format_ident!("jacobian_{}", n)).collect();
    let zeros: Vec<Ident> = (0..k).map(|n| format_ident!("zero_{}", n)).collect();
    let gradient = c.parts(&format_ident!("gradient"));
    let body = match body {
        DenseBody::FromGradient => quote! {
            let (_, gradient) = #grad_name(#(#args),*);
            #(let #jac = #kernels::jacobian_row(&#gradient);)*
        },
        DenseBody::Batched(blocks) => {
            let borrow = c.borrow_owned();
            quote! {
                use ::autodiff::ScalarExt as _;
                #(#borrow)*
                #(let #jac = #blocks;)*
            }
        }
        DenseBody::ByDirections => {
            let seed = if sig.result.is_some_and(Kind::is_tensor) {
                quote!(&seed)
            } else {
                quote!(seed)
            };
            let forward_loops = (0..k).map(|n| {
                let directions = c.directions(n, &zeros);
                let (j, r) = (&jac[n], &refs[n]);
                quote! {
                    for column in 0..#kernels::element_count(#r) {
                        let direction = #kernels::basis(#r, column);
                        let (_, tangent) = #jvp_name(#(#args,)* #(#directions),*);
                        #kernels::set_column(&mut #j, column, &tangent);
                    }
                }
            });
            quote! {
                let out = #name(#(#args),*);
                let outputs = #kernels::element_count(&out);
                let inputs = 0 #(+ #kernels::element_count(#refs))*;
                #(let mut #jac = <#matrix>::zeros(outputs, #kernels::element_count(#refs));)*
                if outputs <= inputs {
                    for row in 0..outputs {
                        let seed = #kernels::basis(&out, row);
                        let (_, gradient) = #vjp_name(#(#args,)* #seed);
                        #(#kernels::set_row(&mut #jac, row, &#gradient);)*
                    }
                } else {
                    #(let #zeros = #kernels::zeros_like(#refs);)*
                    #(#forward_loops)*
                }
            }
        }
    };
    let jacobian_ty = bare_or_tuple((0..k).map(|_| matrix.clone()).collect());
    let result = bare_or_tuple(jac.iter().map(|j| quote!(#j)).collect());
    let doc = doc_lines(&format!(
        "The Jacobian of [`{name}`]: for each differentiated parameter `p`, a matrix of \
         numel(result) × numel(p) whose entry (i, j) is ∂out_i/∂p_j, both flattened row-major. \
         For a scalar result it is the gradient as a row. For a vector function of vectors all \
         directions are pushed through at once (forward mode with the identity as the seed, so \
         `W·x` contributes `W` itself and an elementwise map a diagonal: GEMMs and row \
         scalings, never more work than the dense result needs). Otherwise it takes one \
         vector-Jacobian product per output entry when the outputs are fewer than the inputs, \
         else one Jacobian-vector product per input direction."
    ));
    quote! {
        #doc
        #[allow(unused_variables, unused_mut, clippy::all)]
        #vis fn #jacobian_name(#(#params),*) -> #jacobian_ty {
            #body
            #result
        }
    }
}

/// `f_hessian`: the n×n Hessian over the wrt parameters flattened and concatenated. `Batched`
/// blocks are expressions, one per wrt parameter `q`, each giving the tuple (or bare value) of
/// the blocks ∂²f/∂p∂q for every wrt parameter `p`.
pub fn hessian_item(
    item: &ItemFn,
    sig: &Signature,
    wrt: &[usize],
    float: Float,
    body: DenseBody,
) -> TokenStream {
    let c = calls(sig, wrt, float);
    let (vis, name) = (&item.vis, &item.sig.ident);
    let (hvp_name, hessian_name) = (
        format_ident!("{}_hvp", name),
        format_ident!("{}_hessian", name),
    );
    let (kernels, matrix) = (&c.kernels, &c.matrix);
    let (params, args, refs) = (c.params(), c.args(), c.refs());
    let k = wrt.len();
    let doc = doc_lines(&format!(
        "The Hessian of [`{name}`]: n×n over the differentiated parameters flattened row-major \
         and concatenated in signature order. Where the engine can, each parameter's directions \
         go through the gradient all at once (forward over reverse with the identity as the \
         seed: for logistic regression this is `Xᵀ·(X ⊙ s(1 − s)) + λI`, a GEMM); otherwise \
         one Hessian-vector product per direction. For large n prefer `{name}_hvp`."
    ));
    let offsets: Vec<Ident> = (0..k).map(|n| format_ident!("offset_{}", n)).collect();
    let zeros: Vec<Ident> = (0..k).map(|n| format_ident!("zero_{}", n)).collect();
    let offsets_index = 0..k;
    let sizes = refs.iter().map(|r| quote!(#kernels::element_count(#r)));
    let layout = quote! {
        let sizes = [#(#sizes),*];
        let mut next = 0;
        #(let #offsets = next; next += sizes[#offsets_index];)*
        let mut hessian = <#matrix>::zeros(next, next);
    };
    let fill = match body {
        // One parameter: its single block is the Hessian.
        DenseBody::Batched(blocks) if k == 1 => {
            let borrow = c.borrow_owned();
            let block = &blocks[0];
            return quote! {
                #doc
                #[allow(unused_variables, clippy::all)]
                #vis fn #hessian_name(#(#params),*) -> #matrix {
                    use ::autodiff::ScalarExt as _;
                    #(#borrow)*
                    #block
                }
            };
        }
        DenseBody::Batched(blocks) => {
            let borrow = c.borrow_owned();
            let per_q = blocks.iter().enumerate().map(|(q, block)| {
                let column = &offsets[q];
                let parts = c.parts(&format_ident!("blocks"));
                quote! {
                    let blocks = #block;
                    #(#kernels::set_block(&mut hessian, #offsets, #column, &#parts);)*
                }
            });
            quote! {
                use ::autodiff::ScalarExt as _;
                #(#borrow)*
                #(#per_q)*
            }
        }
        DenseBody::FromGradient | DenseBody::ByDirections => {
            let products = c.parts(&format_ident!("product"));
            let per_q = (0..k).map(|q| {
                let directions = c.directions(q, &zeros);
                let (r, column) = (&refs[q], &offsets[q]);
                quote! {
                    for j in 0..#kernels::element_count(#r) {
                        let direction = #kernels::basis(#r, j);
                        let (_, _, product) = #hvp_name(#(#args,)* #(#directions),*);
                        #(#kernels::set_column_from(&mut hessian, #column + j, #offsets, &#products);)*
                    }
                }
            });
            quote! {
                #(let #zeros = #kernels::zeros_like(#refs);)*
                #(#per_q)*
            }
        }
    };
    quote! {
        #doc
        #[allow(unused_variables, unused_mut, unused_assignments, clippy::all)]
        #vis fn #hessian_name(#(#params),*) -> #matrix {
            #layout
            #fill
            hessian
        }
    }
}
