//! The dense derivative matrices, `f_jacobian` and `f_hessian`, and `f_gradcheck`. Each
//! matrix is computed as the engine's plan says: batched programs (all directions at once:
//! GEMMs) or one call per direction of the generated `f_vjp`, `f_jvp` or `f_hvp`.
//!
//! Their bodies are spanned at `Span::mixed_site()`: the locals they introduce (`value`,
//! `gradient`, `t`, ...) cannot capture or shadow the user's parameters of the same names.

use autodiff_core::symbolic::{HessianPlan, JacobianPlan, Program, REVERSE_WHEN};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use std::cell::RefCell;

use syn::ext::IdentExt;

use crate::emit::{self, hygienic, FreshNames, ParamBinding};
use crate::items::{bare_or_tuple, compare, doc_lines, generated_item_attributes, Function};
use crate::signature::Signature;

/// The pieces every generated call needs.
struct Calls<'a> {
    sig: &'a Signature,
    wrt: &'a [usize],
    kernels: TokenStream,
    matrix: TokenStream,
    /// Names for the body's locals: mixed-site like the parameters, so kept apart from them.
    locals: RefCell<FreshNames>,
}

impl Calls<'_> {
    /// A local named `base`, or `base_2`, ... if a parameter has that name. Each base once.
    fn local(&self, base: &str) -> Ident {
        self.locals.borrow_mut().fresh(base.to_string())
    }

    /// [`local`](Self::local) `base_0`, `base_1`, ... one per wrt parameter.
    fn locals(&self, base: &str) -> Vec<Ident> {
        (0..self.wrt.len())
            .map(|n| self.local(&format!("{base}_{n}")))
            .collect()
    }

    /// `x: Ty` for every parameter.
    fn params(&self) -> Vec<TokenStream> {
        self.sig
            .params
            .iter()
            .map(|p| {
                let (ident, ty) = (hygienic(&p.ident), &p.ty);
                quote_spanned!(Span::mixed_site()=> #ident: #ty)
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
                let ident = hygienic(&p.ident);
                quote_spanned!(Span::mixed_site()=> ::core::clone::Clone::clone(&#ident))
            })
            .collect()
    }

    /// Each wrt parameter as a reference to its value, for the shape kernels.
    fn refs(&self) -> Vec<TokenStream> {
        self.wrt
            .iter()
            .map(|&i| {
                let p = &self.sig.params[i];
                let ident = hygienic(&p.ident);
                if p.tensor.is_some_and(|t| t.by_ref) {
                    quote_spanned!(Span::mixed_site()=> #ident)
                } else {
                    quote_spanned!(Span::mixed_site()=> &#ident)
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
                let ident = hygienic(&p.ident);
                quote_spanned!(Span::mixed_site()=> let #ident = &#ident;)
            })
            .collect()
    }

    /// The parts of a gradient-shaped value `g`: `g` for one wrt parameter, else `g.0`, `g.1`...
    fn parts(&self, g: &Ident) -> Vec<TokenStream> {
        if self.wrt.len() == 1 {
            vec![quote_spanned!(Span::mixed_site()=> #g)]
        } else {
            (0..self.wrt.len())
                .map(|n| {
                    let n = syn::Index::from(n);
                    quote_spanned!(Span::mixed_site()=> #g.#n)
                })
                .collect()
        }
    }

    /// Whether wrt parameter number `n` is a vector or a matrix.
    fn is_tensor(&self, n: usize) -> bool {
        self.sig.params[self.wrt[n]]
            .tensor
            .is_some_and(|t| t.kind.is_tensor())
    }

    /// The direction arguments of a jvp or hvp call along `direction` for wrt parameter `n`, the
    /// zero values `zeros` for the others (tensors by reference).
    fn directions(&self, n: usize, direction: &Ident, zeros: &[Ident]) -> Vec<TokenStream> {
        (0..self.wrt.len())
            .map(|m| {
                let value = if m == n { direction } else { &zeros[m] };
                if self.is_tensor(m) {
                    quote_spanned!(Span::mixed_site()=> &#value)
                } else {
                    quote_spanned!(Span::mixed_site()=> #value)
                }
            })
            .collect()
    }
}

fn calls<'a>(f: &Function<'a>) -> Calls<'a> {
    let (sig, float) = (f.sig, f.float);
    Calls {
        sig,
        wrt: f.wrt,
        kernels: quote_spanned!(Span::mixed_site()=> ::autodiff::kernels),
        matrix: quote_spanned!(Span::mixed_site()=> ::autodiff::Matrix<#float>),
        locals: RefCell::new(FreshNames::new(
            sig.params.iter().map(|p| p.ident.unraw().to_string()),
        )),
    }
}

/// Each batched program's blocks, emitted over the parameters (tensors borrowed: owned ones are
/// rebound as references first, so no block moves what the next one reads), as one expression:
/// its single output, or the tuple of its outputs.
fn batched_blocks(f: &Function, programs: &[Program]) -> Vec<TokenStream> {
    let borrowed = borrowed_bindings(f);
    programs
        .iter()
        .map(|program| {
            let (stmts, outputs) = emit::body(program, &borrowed, &f.frame);
            let blocks = bare_or_tuple(outputs);
            quote!({ #(#stmts)* #blocks })
        })
        .collect()
}

/// The primal parameters, every tensor by reference.
fn borrowed_bindings(f: &Function) -> Vec<ParamBinding> {
    f.primal_bindings()
        .into_iter()
        .map(|b| ParamBinding { by_ref: true, ..b })
        .collect()
}

/// `f_jacobian`: one numel(R) × numel(p) matrix per wrt parameter, as `plan` says.
pub fn jacobian_item(f: &Function, plan: &JacobianPlan) -> TokenStream {
    let (item, sig, wrt) = (f.item, f.sig, f.wrt);
    let c = calls(f);
    let attributes = generated_item_attributes();
    let (vis, name) = (&item.vis, &item.sig.ident);
    let prelude = f.prelude();
    let (grad_name, vjp_name, jvp_name, jacobian_name) = (
        format_ident!("{}_grad", name),
        format_ident!("{}_vjp", name),
        format_ident!("{}_jvp", name),
        format_ident!("{}_jacobian", name),
    );
    let (kernels, matrix) = (&c.kernels, &c.matrix);
    let (params, args, refs) = (c.params(), c.args(), c.refs());
    let (jac, zeros) = (c.locals("jacobian"), c.locals("zero"));
    let [gradient, direction, tangent, column, out, outputs, inputs, row, seed] = [
        "gradient",
        "direction",
        "tangent",
        "column",
        "out",
        "outputs",
        "inputs",
        "row",
        "seed",
    ]
    .map(|base| c.local(base));
    let gradient_parts = c.parts(&gradient);
    let body = match plan {
        JacobianPlan::FromGradient => quote_spanned! {Span::mixed_site()=>
            let (_, #gradient) = #grad_name(#(#args),*);
            #(let #jac = #kernels::jacobian_row(&#gradient_parts);)*
        },
        JacobianPlan::EitherMode {
            program,
            reverse_when,
        } => {
            // Both modes after the shared primal work, the branch taken as the plan says.
            // Tensor parameters are references in these blocks (owned ones are rebound).
            let param = &sig.params[wrt[0]];
            let parameter = hygienic(&param.ident);
            let parameter = if param.tensor.is_some_and(|t| t.kind.is_tensor()) {
                quote!(#parameter)
            } else {
                quote!(&#parameter)
            };
            let body = emit::branched_body(program, &borrowed_bindings(f), &f.frame, |result| {
                compare(
                    quote!(::autodiff::kernels::element_count(#result)),
                    *reverse_when,
                    quote!(::autodiff::kernels::element_count(#parameter)),
                )
            });
            let borrow = c.borrow_owned();
            let jacobian = &jac[0];
            quote_spanned! {Span::mixed_site()=>
                #prelude
                #(#borrow)*
                let #jacobian = { #body };
            }
        }
        JacobianPlan::Batched(programs) => {
            let blocks = batched_blocks(f, programs);
            let borrow = c.borrow_owned();
            quote_spanned! {Span::mixed_site()=>
                #prelude
                #(#borrow)*
                #(let #jac = #blocks;)*
            }
        }
        JacobianPlan::ByDirections { reverse_when } => {
            let reverse = compare(quote!(#outputs), *reverse_when, quote!(#inputs));
            let seed_arg = f.upstream_arg(&seed);
            let forward_loops = (0..wrt.len()).map(|n| {
                let directions = c.directions(n, &direction, &zeros);
                let (j, r) = (&jac[n], &refs[n]);
                quote_spanned! {Span::mixed_site()=>
                    for #column in 0..#kernels::element_count(#r) {
                        let #direction = #kernels::basis(#r, #column);
                        let (_, #tangent) = #jvp_name(#(#args,)* #(#directions),*);
                        #kernels::set_column(&mut #j, #column, &#tangent);
                    }
                }
            });
            quote_spanned! {Span::mixed_site()=>
                let #out = #name(#(#args),*);
                let #outputs = #kernels::element_count(&#out);
                let #inputs = 0 #(+ #kernels::element_count(#refs))*;
                #(let mut #jac = <#matrix>::zeros(#outputs, #kernels::element_count(#refs));)*
                if #reverse {
                    for #row in 0..#outputs {
                        let #seed = #kernels::basis(&#out, #row);
                        let (_, #gradient) = #vjp_name(#(#args,)* #seed_arg);
                        #(#kernels::set_row(&mut #jac, #row, &#gradient_parts);)*
                    }
                } else {
                    #(let #zeros = #kernels::zeros_like(#refs);)*
                    #(#forward_loops)*
                }
            }
        }
    };
    let jacobian_ty = bare_or_tuple((0..wrt.len()).map(|_| matrix.clone()).collect());
    let result = bare_or_tuple(
        jac.iter()
            .map(|j| quote_spanned!(Span::mixed_site()=> #j))
            .collect(),
    );
    let doc = doc_lines(&format!(
        "The Jacobian of [`{name}`]: for each differentiated parameter `p`, a matrix of \
         numel(result) × numel(p) whose entry (i, j) is ∂out_i/∂p_j, both flattened row-major. \
         For a scalar result it is the gradient as a row. For a vector function of vectors all \
         directions are pushed through at once (forward mode with the identity as the seed, so \
         `W·x` contributes `W` itself and an elementwise map a diagonal: GEMMs and row \
         scalings, never more work than the dense result needs). Otherwise it takes one \
         vector-Jacobian product per output entry when the outputs are {} the inputs, else \
         one Jacobian-vector product per input direction.",
        REVERSE_WHEN.words()
    ));
    quote_spanned! {Span::mixed_site()=>
        #doc
        #attributes
        #vis fn #jacobian_name(#(#params),*) -> #jacobian_ty {
            #body
            #result
        }
    }
}

/// `f_hessian`: the n×n Hessian over the wrt parameters flattened and concatenated, as `plan`
/// says, one group of columns at a time: a batched program gives the blocks ∂²f/∂p∂d of its
/// directions `d` for every wrt parameter `p`; otherwise one `f_hvp` per direction. Each group
/// costs code of the size of the function whatever its number of directions (the scalar
/// parameters are one group), so the item grows linearly with the function.
pub fn hessian_item(f: &Function, plan: &HessianPlan) -> TokenStream {
    let (item, wrt) = (f.item, f.wrt);
    let c = calls(f);
    let attributes = generated_item_attributes();
    let (vis, name) = (&item.vis, &item.sig.ident);
    let prelude = f.prelude();
    let float = f.float;
    let (hvp_name, hessian_name) = (
        format_ident!("{}_hvp", name),
        format_ident!("{}_hessian", name),
    );
    let (kernels, matrix) = (&c.kernels, &c.matrix);
    let (params, args, refs) = (c.params(), c.args(), c.refs());
    let k = wrt.len();
    let doc = doc_lines(&format!(
        "The Hessian of [`{name}`]: n×n over the differentiated parameters flattened row-major \
         and concatenated in signature order. Where the engine can, a parameter's directions \
         (or all the scalar parameters' directions together) go through the gradient at once \
         (forward over reverse with the identity as the seed: for logistic regression this is \
         `Xᵀ·(X ⊙ s(1 − s)) + λI`, a GEMM); otherwise one Hessian-vector product per \
         direction. For large n prefer `{name}_hvp`."
    ));
    // One parameter whose block is batched: that block is the Hessian.
    if let [group] = &plan.groups[..] {
        if let (1, Some(batched)) = (k, &group.batched) {
            let block = match batched.blocks[0] {
                Some(_) => {
                    let borrow = c.borrow_owned();
                    let block = batched_blocks(f, std::slice::from_ref(&batched.program)).remove(0);
                    quote_spanned!(Span::mixed_site()=> #(#borrow)* #block)
                }
                // Linear in its parameter: the Hessian is zero.
                None => {
                    let r = &refs[0];
                    quote_spanned!(Span::mixed_site()=> {
                        let n = #kernels::element_count(#r);
                        <#matrix>::zeros(n, n)
                    })
                }
            };
            return quote_spanned! {Span::mixed_site()=>
                #doc
                #attributes
                #vis fn #hessian_name(#(#params),*) -> #matrix {
                    #prelude
                    #block
                }
            };
        }
    }
    let (offsets, zeros) = (c.locals("offset"), c.locals("zero"));
    let [sizes, next, hessian, blocks, product, j, direction, columns] = [
        "sizes",
        "next",
        "hessian",
        "blocks",
        "product",
        "j",
        "direction",
        "columns",
    ]
    .map(|base| c.local(base));
    let offsets_index = 0..k;
    let size_of = refs
        .iter()
        .map(|r| quote_spanned!(Span::mixed_site()=> #kernels::element_count(#r)));
    let layout = quote_spanned! {Span::mixed_site()=>
        let #sizes = [#(#size_of),*];
        let mut #next = 0;
        #(let #offsets = #next; #next += #sizes[#offsets_index];)*
        let mut #hessian = <#matrix>::zeros(#next, #next);
    };
    let by_directions = plan.groups.iter().any(|g| g.batched.is_none());
    let zero_values = by_directions.then(
        || quote_spanned!(Span::mixed_site()=> #(let #zeros = #kernels::zeros_like(#refs);)*),
    );
    // Batched blocks borrow owned tensor parameters (in their own scope: calls of `f_hvp`
    // take them as they are).
    let borrow = c.borrow_owned();
    let products = c.parts(&product);
    let groups = plan.groups.iter().map(|group| {
        let directions = &group.directions;
        // The Hessian columns of the group's directions, in order (several only for scalars).
        let column_offsets = directions.iter().map(|&d| &offsets[d]);
        let m = directions.len();
        match &group.batched {
            Some(batched) => {
                let block = batched_blocks(f, std::slice::from_ref(&batched.program)).remove(0);
                let n_outputs = batched.program.outputs.len();
                let writes = batched.blocks.iter().enumerate().filter_map(|(p, output)| {
                    let output = (*output)?;
                    let part = if n_outputs == 1 {
                        quote_spanned!(Span::mixed_site()=> #blocks)
                    } else {
                        let index = syn::Index::from(output);
                        quote_spanned!(Span::mixed_site()=> #blocks.#index)
                    };
                    let row = &offsets[p];
                    Some(if m == 1 {
                        let column = &offsets[directions[0]];
                        quote_spanned!(Span::mixed_site()=>
                            #kernels::set_block(&mut #hessian, #row, #column, &#part);)
                    } else {
                        quote_spanned!(Span::mixed_site()=>
                            #kernels::set_columns(&mut #hessian, #row, &#columns, &#part);)
                    })
                });
                quote_spanned! {Span::mixed_site()=>
                    {
                        #(#borrow)*
                        let #columns = [#(#column_offsets),*];
                        let #blocks = #block;
                        #(#writes)*
                    }
                }
            }
            None if m == 1 => {
                let q = directions[0];
                let direction_args = c.directions(q, &direction, &zeros);
                let (r, column) = (&refs[q], &offsets[q]);
                quote_spanned! {Span::mixed_site()=>
                    for #j in 0..#kernels::element_count(#r) {
                        let #direction = #kernels::basis(#r, #j);
                        let (_, _, #product) = #hvp_name(#(#args,)* #(#direction_args),*);
                        #(#kernels::set_column_from(&mut #hessian, #column + #j, #offsets, &#products);)*
                    }
                }
            }
            None => {
                // Scalars: one loop over them, the direction a unit array.
                let direction_args = (0..k).map(|r| match directions.iter().position(|&d| d == r) {
                    Some(i) => quote_spanned!(Span::mixed_site()=> #direction[#i]),
                    None => {
                        let zero = &zeros[r];
                        if c.is_tensor(r) {
                            quote_spanned!(Span::mixed_site()=> &#zero)
                        } else {
                            quote_spanned!(Span::mixed_site()=> #zero)
                        }
                    }
                });
                quote_spanned! {Span::mixed_site()=>
                    let #columns = [#(#column_offsets),*];
                    for #j in 0..#m {
                        let mut #direction = [0.0 as #float; #m];
                        #direction[#j] = 1.0;
                        let (_, _, #product) = #hvp_name(#(#args,)* #(#direction_args),*);
                        #(#kernels::set_column_from(&mut #hessian, #columns[#j], #offsets, &#products);)*
                    }
                }
            }
        }
    });
    quote_spanned! {Span::mixed_site()=>
        #doc
        #attributes
        #vis fn #hessian_name(#(#params),*) -> #matrix {
            #prelude
            #layout
            #zero_values
            #(#groups)*
            #hessian
        }
    }
}

/// `f_gradcheck`: the generated gradient (of f for a scalar result, of ⟨u, f⟩ for a fixed
/// probe `u` otherwise) of each wrt parameter against finite differences of `f`, element by
/// element, and `f_jvp` along probe
/// directions against a directional difference (see `autodiff::gradcheck`).
pub fn gradcheck_item(f: &Function) -> TokenStream {
    let (item, sig, wrt) = (f.item, f.sig, f.wrt);
    let c = calls(f);
    let attributes = generated_item_attributes();
    let (vis, name) = (&item.vis, &item.sig.ident);
    let (vjp_name, jvp_name, check_name) = (
        format_ident!("{}_vjp", name),
        format_ident!("{}_jvp", name),
        format_ident!("{}_gradcheck", name),
    );
    let check = quote_spanned!(Span::mixed_site()=> ::autodiff::gradcheck);
    let (params, args, refs) = (c.params(), c.args(), c.refs());
    let [report, value, upstream, gradient, point, numeric, moved, tangent, t] = [
        "report", "value", "upstream", "gradient", "point", "numeric", "moved", "tangent", "t",
    ]
    .map(|base| c.local(base));
    let directions = c.locals("direction");
    let upstream_arg = f.upstream_arg(&upstream);
    // A scalar result is pulled back from 1, so that the report's generated entries are the
    // gradient itself; a tensor's through a fixed probe u (the gradient of ⟨u, f⟩).
    let probe = if f.result == autodiff_core::symbolic::Kind::Scalar {
        let one = emit::float_literal(1.0, f.float);
        quote_spanned!(Span::mixed_site()=> #one)
    } else {
        quote_spanned!(Span::mixed_site()=> #check::probe(&#value, 0))
    };
    let gradient_parts = c.parts(&gradient);
    let function_name = name.unraw().to_string();
    // The call of `f` with parameter `i` replaced by `replacement` (an owned value).
    let call_with = |replaced: &[(usize, TokenStream)]| {
        let args = sig.params.iter().enumerate().map(|(j, p)| {
            let ident = hygienic(&p.ident);
            match replaced.iter().find(|(i, _)| *i == j) {
                Some((_, value)) => match p.tensor {
                    Some(t) if t.by_ref => quote_spanned!(Span::mixed_site()=> &#value),
                    _ => quote_spanned!(Span::mixed_site()=> #value),
                },
                None => quote_spanned!(Span::mixed_site()=> ::core::clone::Clone::clone(&#ident)),
            }
        });
        quote_spanned!(Span::mixed_site()=> #name(#(#args),*))
    };
    // The scalar parameters' differences come from one function of them all (as a vector), so
    // that n scalars cost one call of `f` in the code, not n calls of n arguments each.
    let scalars: Vec<usize> = (0..wrt.len()).filter(|&k| !c.is_tensor(k)).collect();
    let scalar_numeric = c.local("scalar_numeric");
    let scalar_differences = (!scalars.is_empty()).then(|| {
        let values = scalars.iter().map(|&k| hygienic(&sig.params[wrt[k]].ident));
        let replaced: Vec<(usize, TokenStream)> = scalars
            .iter()
            .enumerate()
            .map(|(position, &k)| (wrt[k], quote_spanned!(Span::mixed_site()=> #moved[#position])))
            .collect();
        let call = call_with(&replaced);
        let float = f.float;
        quote_spanned! {Span::mixed_site()=>
            let #point = ::autodiff::Vector::<#float>::from_vec(::std::vec![#(#values),*]);
            let #scalar_numeric = #check::gradient(&#point, &|#moved| #check::inner(&#upstream, &#call));
        }
    });
    let per_parameter = wrt.iter().enumerate().map(|(k, &i)| {
        let label = sig.params[i].ident.unraw().to_string();
        let part = &gradient_parts[k];
        if let Some(position) = scalars.iter().position(|&s| s == k) {
            return quote_spanned! {Span::mixed_site()=>
                #report.compare(#label, &#check::flat_f64(&#part), ::core::slice::from_ref(&#scalar_numeric[#position]));
            };
        }
        let r = &refs[k];
        let call = call_with(&[(
            i,
            quote_spanned!(Span::mixed_site()=> ::core::clone::Clone::clone(#moved)),
        )]);
        quote_spanned! {Span::mixed_site()=>
            {
                let #point = ::core::clone::Clone::clone(#r);
                let #numeric = #check::gradient(&#point, &|#moved| #check::inner(&#upstream, &#call));
                #report.compare(#label, &#check::flat_f64(&#part), &#numeric);
            }
        }
    });
    let direction_values = refs
        .iter()
        .enumerate()
        .map(|(k, r)| quote_spanned!(Span::mixed_site()=> #check::probe(#r, #k + 1)));
    let tangent_args = wrt.iter().zip(&directions).map(|(&i, d)| {
        if sig.params[i].tensor.is_some_and(|t| t.kind.is_tensor()) {
            quote_spanned!(Span::mixed_site()=> &#d)
        } else {
            quote_spanned!(Span::mixed_site()=> #d)
        }
    });
    let moved_call = call_with(
        &wrt.iter()
            .zip(&refs)
            .zip(&directions)
            .map(|((&i, r), d)| {
                (
                    i,
                    quote_spanned!(Span::mixed_site()=> #check::moved(#r, &#d, #t)),
                )
            })
            .collect::<Vec<_>>(),
    );
    let doc = doc_lines(&format!(
        "Checks the generated derivatives of [`{name}`] at this point against finite differences \
         of `{name}` itself: the gradient of each differentiated parameter element by element \
         (of ⟨u, {name}⟩ for a fixed probe `u` when the result is a tensor or a tuple), and \
         forward mode along a probe direction; next to a kink, against the slopes on either \
         side. Use `.assert_within(1e-6)` (f64) or `.assert_within(1e-2)` \
         (f32) in tests, or print the report."
    ));
    quote_spanned! {Span::mixed_site()=>
        #doc
        #attributes
        #vis fn #check_name(#(#params),*) -> #check::GradcheckReport {
            let mut #report = #check::GradcheckReport::new(#function_name);
            let #value = #name(#(#args),*);
            let #upstream = #probe;
            let (_, #gradient) = #vjp_name(#(#args,)* #upstream_arg);
            #scalar_differences
            #(#per_parameter)*
            #(let #directions = #direction_values;)*
            let (_, #tangent) = #jvp_name(#(#args,)* #(#tangent_args),*);
            let #numeric = #check::directional(&|#t| #check::inner(&#upstream, &#moved_call));
            #report.compare("directional", &[#check::inner(&#upstream, &#tangent)], &[#numeric]);
            #report
        }
    }
}

/// `f_check_hand(p1, ..., pn, hand)`: the generated pullback against a hand-written one of
/// `f_vjp`'s signature, at the given point and at points perturbed from it (every float
/// parameter moved), each with its own upstream gradient: the value, then each wrt parameter's
/// gradient under its adjoint's name (`dw`). See `autodiff::gradcheck`.
pub fn hand_check_item(f: &Function) -> TokenStream {
    let (item, sig, wrt) = (f.item, f.sig, f.wrt);
    let c = calls(f);
    let attributes = generated_item_attributes();
    let (vis, name) = (&item.vis, &item.sig.ident);
    let (vjp_name, check_name) = (
        format_ident!("{}_vjp", name),
        format_ident!("{}_check_hand", name),
    );
    let check = quote_spanned!(Span::mixed_site()=> ::autodiff::gradcheck);
    let [report, hand, trial, value, upstream, generated, by_hand, message] = [
        "report",
        "hand",
        "trial",
        "value",
        "upstream",
        "generated",
        "by_hand",
        "message",
    ]
    .map(|base| c.local(base));
    let params = c.params();
    let types = sig.params.iter().map(|p| &p.ty);
    let (upstream_ty, result_ty, gradient_ty) = (f.upstream_ty(), f.result_ty(), f.gradient_ty());
    // Every float parameter (differentiated or not) is moved at the trials after the first.
    let moved: Vec<TokenStream> = sig
        .params
        .iter()
        .filter(|p| p.tensor.is_some())
        .map(|p| {
            let ident = hygienic(&p.ident);
            let (owned, reference) = match p.tensor {
                Some(t) if t.by_ref => (quote!(#check::perturbed(#ident, #trial)), quote!(&)),
                _ => (quote!(#check::perturbed(&#ident, #trial)), quote!()),
            };
            let storage = format_ident!("{}_moved", ident.unraw(), span = Span::mixed_site());
            quote_spanned! {Span::mixed_site()=>
                let #storage = #owned;
                let #ident = #reference #storage;
            }
        })
        .collect();
    let args = c.args();
    let upstream_arg = f.upstream_arg(&upstream);
    let function_name = name.unraw().to_string();
    let (generated_parts, hand_parts) = (c.parts(&generated), c.parts(&by_hand));
    let comparisons = wrt.iter().enumerate().map(|(k, &i)| {
        let label = format!("d{}", sig.params[i].ident.unraw());
        let (g, h) = (&generated_parts[k], &hand_parts[k]);
        quote_spanned!(Span::mixed_site()=> #report.compare_hand(#label, &#g, &#h);)
    });
    let value_hand = c.local("value_hand");
    let doc = doc_lines(&format!(
        "Checks a hand-written pullback of [`{name}`] (the signature of `{name}_vjp`) against \
         the generated one: at this point and at {} nearby points, each with its own upstream \
         gradient, the value and each parameter's gradient (`dw`), entry by entry. Use \
         `.assert_within(1e-10)` in tests, or print the report; a gradient of the wrong shape, or \
         a hand derivation that panics, is reported by name.",
        "two"
    ));
    quote_spanned! {Span::mixed_site()=>
        #doc
        #attributes
        #vis fn #check_name(
            #(#params,)*
            #hand: impl Fn(#(#types,)* #upstream_ty) -> (#result_ty, #gradient_ty),
        ) -> #check::GradcheckReport {
            let mut #report = #check::GradcheckReport::against_hand(#function_name);
            for #trial in 0..#check::HAND_TRIALS {
                #(#moved)*
                let #value = #name(#(#args),*);
                let #upstream = #check::probe(&#value, #trial);
                let (#value, #generated) = #vjp_name(#(#args,)* #upstream_arg);
                match #check::catch(|| #hand(#(#args,)* #upstream_arg)) {
                    Ok((#value_hand, #by_hand)) => {
                        #report.compare_hand("value", &#value, &#value_hand);
                        #(#comparisons)*
                    }
                    Err(#message) => {
                        #report.hand_failed(#message);
                        break;
                    }
                }
            }
            #report
        }
    }
}
