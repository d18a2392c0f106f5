//! Training a small neural network on real data, end to end, with generated gradients.
//!
//! The data are scikit-learn's 8×8 handwritten digits (1,797 images, 64 pixels of 0..16, labels
//! 0..9; source and licence in `examples/data/README.md`). The model is a multilayer perceptron,
//! 64 → 64 (tanh) → 10, trained with softmax cross-entropy. Its parameters are one
//! `#[derive(Differentiable)]` struct, and `#[differentiable(wrt(p))]` on the loss gives
//! `loss_grad`, whose gradient is a value of the same struct, and `loss_gradcheck`, which the
//! example runs once against finite differences before it trusts the gradient. The optimiser,
//! Adam, is a few lines of plain Rust over the struct's flat view (`to_flat`/`from_flat`).
//!
//! Everything is deterministic: a hand-written PRNG with a fixed seed shuffles the images, holds
//! out a fifth of them, initialises the weights and orders the minibatches, so every run prints
//! the same numbers. At the end it asserts that at least 95% of the held-out images are classified
//! correctly, and draws the training loss and the held-out accuracy per epoch as an SVG.
//!
//! Run with
//!
//! ```sh
//! cargo run --release --example digits                          # plot: target/digits_training.svg
//! cargo run --release --example digits -- docs/digits_training.svg
//! ```

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use autodiff::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use plotters::coord::combinators::{LogCoord, WithKeyPoints};
use plotters::prelude::*;

/// Read at run time rather than with `include_str!`: the data stay in the repository but out of
/// the published package.
const DATA_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/digits.csv");
const DEFAULT_PLOT_PATH: &str = "target/digits_training.svg";

const PIXELS: usize = 64;
const CLASSES: usize = 10;
const HIDDEN: usize = 64;

const SEED: u64 = 0x5eed_d161_7500_0001;
const EPOCHS: usize = 30;
const BATCH_SIZE: usize = 32;
const LEARNING_RATE: f64 = 3e-3;
/// The accuracy the example promises on images it never trained on.
const REQUIRED_ACCURACY: f64 = 0.95;

/// The network's parameters, one value: gradients and optimiser state have the same shape.
#[derive(Differentiable, Clone, Debug, PartialEq)]
struct Mlp {
    w1: Matrix<f64>, // PIXELS × HIDDEN
    b1: Vector<f64>, // HIDDEN
    w2: Matrix<f64>, // HIDDEN × CLASSES
    b2: Vector<f64>, // CLASSES
}

/// Mean cross-entropy of the labels under the network's softmax. `log_softmax` subtracts each
/// row's maximum, so large scores cannot overflow; `gather` picks each row's log-probability of
/// its label. Only the items the example calls are generated, which keeps the build short.
#[differentiable(wrt(p), only(grad, gradcheck))]
fn loss(p: &Mlp, images: &Matrix<f64>, labels: &[usize]) -> f64 {
    let hidden = (images.matmul(&p.w1) + &p.b1).tanh();
    let log_probs = (hidden.matmul(&p.w2) + &p.b2).log_softmax();
    -log_probs.gather(labels).mean()
}

/// The same forward pass up to the scores, for predictions: the tensor methods are plain Rust
/// outside a differentiable function too.
fn scores(p: &Mlp, images: &Matrix<f64>) -> Matrix<f64> {
    let hidden = (images.matmul(&p.w1) + &p.b1).tanh();
    hidden.matmul(&p.w2) + &p.b2
}

/// The fraction of images whose highest score is their label's.
fn accuracy(p: &Mlp, images: &Matrix<f64>, labels: &[usize]) -> f64 {
    let scores = scores(p, images);
    let correct = labels
        .iter()
        .enumerate()
        .filter(|&(row, &label)| {
            let predicted = (0..CLASSES)
                .max_by(|&a, &b| scores[(row, a)].total_cmp(&scores[(row, b)]))
                .expect("there is at least one class");
            predicted == label
        })
        .count();
    correct as f64 / labels.len() as f64
}

/// SplitMix64 (Steele, Lea and Flood, 2014): tiny, fast and good enough to shuffle and
/// initialise; written out so that the example needs no `rand` and its numbers never change.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits (all an f64 mantissa holds).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (the modulo bias is below 2⁻⁵⁰ for the n here).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }

    /// Glorot/Xavier uniform: U(−a, a) with a = √(6 / (fan_in + fan_out)), which keeps the
    /// variance of activations and gradients about level through a tanh layer.
    fn xavier(&mut self, fan_in: usize, fan_out: usize) -> Matrix<f64> {
        let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
        Matrix::from_fn(fan_in, fan_out, |_, _| {
            bound * (2.0 * self.next_f64() - 1.0)
        })
    }
}

/// The images, 64 pixels each (scaled to [0, 1]) one image after another, and their labels.
struct Digits {
    pixels: Vec<f64>,
    labels: Vec<usize>,
}

impl Digits {
    /// Parses the CSV: one image a line, 64 integer pixels then the label; `#` lines are
    /// comments.
    fn parse(text: &str) -> Result<Digits, String> {
        let mut digits = Digits {
            pixels: Vec::new(),
            labels: Vec::new(),
        };
        let lines = text.lines().enumerate();
        for (index, line) in lines.filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#')) {
            let at = || format!("{DATA_PATH}, line {}", index + 1);
            let fields = line
                .split(',')
                .map(|field| field.trim().parse::<u8>())
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| format!("{}: not an integer ({e})", at()))?;
            let (label, pixels) = fields
                .split_last()
                .filter(|(_, pixels)| pixels.len() == PIXELS)
                .ok_or_else(|| format!("{}: {} fields, expected 65", at(), fields.len()))?;
            if usize::from(*label) >= CLASSES || pixels.iter().any(|&v| v > 16) {
                return Err(format!("{}: a pixel above 16 or a label above 9", at()));
            }
            // Pixels count the ink in a 4×4 block, 0..16: dividing by 16 puts them in [0, 1],
            // where tanh is not saturated at the start.
            digits
                .pixels
                .extend(pixels.iter().map(|&v| f64::from(v) / 16.0));
            digits.labels.push(usize::from(*label));
        }
        Ok(digits)
    }

    fn len(&self) -> usize {
        self.labels.len()
    }

    /// The images at `indices` as the rows of a matrix, with their labels.
    fn batch(&self, indices: &[usize]) -> (Matrix<f64>, Vec<usize>) {
        let images = Matrix::from_fn(indices.len(), PIXELS, |row, col| {
            self.pixels[indices[row] * PIXELS + col]
        });
        let labels = indices.iter().map(|&i| self.labels[i]).collect();
        (images, labels)
    }
}

/// Adam (Kingma and Ba, 2015) over any `Differentiable` value, on its flat view: the running
/// means of the gradient and of its square, bias-corrected.
struct Adam {
    learning_rate: f64,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    steps: i32,
    mean: Vec<f64>,
    mean_square: Vec<f64>,
}

impl Adam {
    fn new<P: Differentiable<Element = f64>>(params: &P, learning_rate: f64) -> Self {
        let n = params.num_params();
        Adam {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            steps: 0,
            mean: vec![0.0; n],
            mean_square: vec![0.0; n],
        }
    }

    fn step<P: Differentiable<Element = f64>>(&mut self, params: &mut P, grad: &P) {
        self.steps += 1;
        let correct1 = 1.0 - self.beta1.powi(self.steps);
        let correct2 = 1.0 - self.beta2.powi(self.steps);
        let mut flat = params.to_flat();
        let moments = self.mean.iter_mut().zip(&mut self.mean_square);
        for ((value, g), (m, v)) in flat.iter_mut().zip(grad.to_flat()).zip(moments) {
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            let (m_hat, v_hat) = (*m / correct1, *v / correct2);
            *value -= self.learning_rate * m_hat / (v_hat.sqrt() + self.epsilon);
        }
        *params = params.from_flat(&flat);
    }
}

/// What one epoch ended with, for the table and the plot.
struct EpochRecord {
    epoch: usize,
    train_loss: f64,
    test_loss: f64,
    test_accuracy: f64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let plot_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_PLOT_PATH.to_string());
    let started = Instant::now();

    let text = std::fs::read_to_string(DATA_PATH)
        .map_err(|e| format!("cannot read the digits from {DATA_PATH}: {e}"))?;
    let digits = Digits::parse(&text)?;
    let mut rng = SplitMix64(SEED);

    // Shuffle once, then hold out the last fifth: those images are never trained on.
    let mut order: Vec<usize> = (0..digits.len()).collect();
    rng.shuffle(&mut order);
    let (train_indices, test_indices) = order.split_at(digits.len() * 4 / 5);
    let (train_images, train_labels) = digits.batch(train_indices);
    let (test_images, test_labels) = digits.batch(test_indices);
    println!(
        "{} images of 8×8 pixels: {} for training, {} held out",
        digits.len(),
        train_indices.len(),
        test_indices.len()
    );

    let mut params = Mlp {
        w1: rng.xavier(PIXELS, HIDDEN),
        b1: Vector::zeros(HIDDEN),
        w2: rng.xavier(HIDDEN, CLASSES),
        b2: Vector::zeros(CLASSES),
    };
    println!(
        "model: {PIXELS} → {HIDDEN} (tanh) → {CLASSES}, softmax cross-entropy, {} parameters",
        params.num_params()
    );

    // The generated gradient against finite differences of `loss` itself, on a few training
    // images at the initial point, before any training relies on it.
    let checked = Instant::now();
    let (check_images, check_labels) = digits.batch(&train_indices[..8]);
    let report = loss_gradcheck(&params, &check_images, &check_labels);
    report.assert_within(1e-6);
    println!(
        "gradient check passed on 8 images: max relative error {:.1e} over {} parameters ({:.2} s)",
        report.max_rel_error(),
        params.num_params(),
        checked.elapsed().as_secs_f64()
    );
    print!("{report}");

    let training = Instant::now();
    let mut adam = Adam::new(&params, LEARNING_RATE);
    let mut history = vec![EpochRecord {
        epoch: 0,
        train_loss: loss(&params, &train_images, &train_labels),
        test_loss: loss(&params, &test_images, &test_labels),
        test_accuracy: accuracy(&params, &test_images, &test_labels),
    }];
    let progress = ProgressBar::new(EPOCHS as u64).with_style(
        ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg} [{elapsed_precise}]")
            .expect("the progress bar's template is valid"),
    );
    let mut epoch_order = train_indices.to_vec();
    for epoch in 1..=EPOCHS {
        rng.shuffle(&mut epoch_order);
        for batch_indices in epoch_order.chunks(BATCH_SIZE) {
            let (images, labels) = digits.batch(batch_indices);
            let (batch_loss, grad): (f64, Mlp) = loss_grad(&params, &images, &labels);
            adam.step(&mut params, &grad);
            progress.set_message(format!("batch loss {batch_loss:.4}"));
        }
        // Losses over whole sets at the epoch's end: smoother than the minibatches' and cheap.
        let record = EpochRecord {
            epoch,
            train_loss: loss(&params, &train_images, &train_labels),
            test_loss: loss(&params, &test_images, &test_labels),
            test_accuracy: accuracy(&params, &test_images, &test_labels),
        };
        progress.set_message(format!(
            "train loss {:.4}, held-out accuracy {:.1}%",
            record.train_loss,
            100.0 * record.test_accuracy
        ));
        progress.inc(1);
        history.push(record);
    }
    progress.finish();
    let training_seconds = training.elapsed().as_secs_f64();

    println!("epoch  train loss  held-out loss  held-out accuracy");
    for record in history
        .iter()
        .filter(|r| r.epoch % 5 == 0 || r.epoch == 1 || r.epoch == EPOCHS)
    {
        println!(
            "{:>5}  {:>10.4}  {:>13.4}  {:>16.2}%",
            record.epoch,
            record.train_loss,
            record.test_loss,
            100.0 * record.test_accuracy
        );
    }
    let final_accuracy = history.last().expect("epoch 0 is recorded").test_accuracy;
    let correct = (final_accuracy * test_labels.len() as f64).round() as usize;
    println!(
        "held-out accuracy after {EPOCHS} epochs: {:.2}% ({correct} of {} images)",
        100.0 * final_accuracy,
        test_labels.len()
    );
    println!(
        "training: {EPOCHS} epochs of minibatch Adam (batch {BATCH_SIZE}, rate {LEARNING_RATE}) \
         in {training_seconds:.2} s"
    );
    assert!(
        final_accuracy >= REQUIRED_ACCURACY,
        "held-out accuracy {final_accuracy:.4} is below {REQUIRED_ACCURACY}"
    );

    plot(&history, Path::new(&plot_path))?;
    println!("plot written to {plot_path}");
    println!("total time {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Two panels, side by side: training and held-out loss per epoch, and held-out accuracy with
/// the line the example asserts it stays above.
fn plot(history: &[EpochRecord], path: &Path) -> Result<(), Box<dyn Error>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {} for the plot: {e}", dir.display()))?;
    }
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "8×8 digits: MLP 64 → 64 (tanh) → 10, Adam, gradients by autodiff",
        ("sans-serif", 22),
    )?;
    let (left, right) = root.split_horizontally(500);
    let epochs = history.len() - 1;

    // Loss on a log scale: the late epochs, where training and held-out loss part, stay visible.
    let losses = history.iter().flat_map(|r| [r.train_loss, r.test_loss]);
    let (min_loss, max_loss) = losses.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let mut chart = ChartBuilder::on(&left)
        .caption("cross-entropy loss", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0..epochs, log_axis(min_loss, max_loss))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss (log scale)")
        .y_label_formatter(&|v| format!("{v}"))
        .draw()?;
    let train = history.iter().map(|r| (r.epoch, r.train_loss));
    chart
        .draw_series(LineSeries::new(train, BLUE.stroke_width(2)))?
        .label("training set")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    let test = history.iter().map(|r| (r.epoch, r.test_loss));
    chart
        .draw_series(LineSeries::new(test, RED.stroke_width(2)))?
        .label("held out")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;

    // Accuracy from epoch 1: before training it is chance (about 10%), which would squash the
    // percent or two that matter at the top into a sliver; the caption gives it instead.
    let before = 100.0 * history[0].test_accuracy;
    let trained = &history[1..];
    let lowest = trained
        .iter()
        .map(|r| 100.0 * r.test_accuracy)
        .fold(100.0, f64::min);
    let mut chart = ChartBuilder::on(&right)
        .caption(
            format!("held-out accuracy (before training: {before:.1}%)"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0..epochs, (lowest - 2.0).floor()..100.0)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("accuracy (%)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    let accuracy = trained.iter().map(|r| (r.epoch, 100.0 * r.test_accuracy));
    chart
        .draw_series(LineSeries::new(accuracy, RED.stroke_width(2)))?
        .label("held out")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
    let bar = [
        (0, 100.0 * REQUIRED_ACCURACY),
        (epochs, 100.0 * REQUIRED_ACCURACY),
    ];
    let dashed = BLACK.mix(0.6).stroke_width(1);
    chart
        .draw_series(DashedLineSeries::new(bar, 6, 4, dashed))?
        .label("95%: the example asserts it ends above")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], dashed));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;

    root.present()?;
    Ok(())
}

/// A log axis from the 1-2-5 step at or below `low` to the one at or above `high`, labelled at
/// every 1-2-5 step between (plotters' own log axis labels the decades only).
fn log_axis(low: f64, high: f64) -> WithKeyPoints<LogCoord<f64>> {
    let steps: Vec<f64> = (-6..=6)
        .flat_map(|decade| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(decade)))
        .collect();
    let from = steps
        .iter()
        .rev()
        .find(|&&s| s <= low)
        .copied()
        .unwrap_or(low);
    let to = steps.iter().find(|&&s| s >= high).copied().unwrap_or(high);
    let labels = steps
        .into_iter()
        .filter(|s| (from..=to).contains(s))
        .collect();
    (from..to).log_scale().with_key_points(labels)
}
