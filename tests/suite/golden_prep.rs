//! Golden tests for the tokenizer, the CLIP image preprocessing and the input image
//! preparation, against the reference fixtures (`DC_FIXTURES`, default
//! else `$DC_SHARED/fixtures`).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use dynamicrafter_studio::imaging::load::{LoadOptions, load_image};
use dynamicrafter_studio::imaging::tensor::ImageTensor;
use dynamicrafter_studio::model::clip_preprocess::{CLIP_IMAGE_SIZE, clip_preprocess};
use dynamicrafter_studio::model::tokenizer::{CONTEXT_LENGTH, ClipTokenizer};
use dynamicrafter_studio::pipeline::preprocess::{FitMode, prepare_frame};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

fn fixtures_root() -> PathBuf {
    match std::env::var_os("DC_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => crate::common::shared_dir().join("fixtures"),
    }
}

/// Every fixture directory (a folder with golden.safetensors + cases.json) under the root,
/// or the root itself if it is one.
fn fixture_dirs() -> Vec<PathBuf> {
    let root = fixtures_root();
    assert!(
        root.exists(),
        "fixture directory {} does not exist: set DC_FIXTURES to the folder that holds \
         tiny/ (or to one fixture folder)",
        root.display()
    );
    if root.join("cases.json").exists() {
        return vec![root];
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("cases.json").exists() && p.join("golden.safetensors").exists())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no fixture folder (with cases.json and golden.safetensors) under {}", root.display());
    dirs
}

struct Fixture {
    dir: PathBuf,
    cases: Value,
    golden: Vec<u8>,
}

impl Fixture {
    fn load(dir: &Path) -> Self {
        let cases_path = dir.join("cases.json");
        let cases: Value = serde_json::from_slice(
            &std::fs::read(&cases_path).unwrap_or_else(|e| panic!("cannot read {}: {e}", cases_path.display())),
        )
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", cases_path.display()));
        let golden_path = dir.join("golden.safetensors");
        let golden =
            std::fs::read(&golden_path).unwrap_or_else(|e| panic!("cannot read {}: {e}", golden_path.display()));
        Self { dir: dir.to_owned(), cases, golden }
    }

    fn st(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.golden).unwrap()
    }

    fn f32(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let st = self.st();
        let t = st.tensor(name).unwrap_or_else(|e| panic!("{}: no tensor {name}: {e}", self.dir.display()));
        assert_eq!(t.dtype(), Dtype::F32, "{name} dtype");
        let data = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        (t.shape().to_vec(), data)
    }

    fn i64(&self, name: &str) -> (Vec<usize>, Vec<i64>) {
        let st = self.st();
        let t = st.tensor(name).unwrap_or_else(|e| panic!("{}: no tensor {name}: {e}", self.dir.display()));
        assert_eq!(t.dtype(), Dtype::I64, "{name} dtype");
        let data = t.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect();
        (t.shape().to_vec(), data)
    }

    fn case(&self, name: &str) -> &Value {
        &self.cases["cases"][name]
    }
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn rel_l2(out: &[f32], reference: &[f32]) -> f64 {
    assert_eq!(out.len(), reference.len());
    let mut num = 0.0f64;
    let mut den = 0.0f64;
    for (&o, &r) in out.iter().zip(reference) {
        num += (f64::from(o) - f64::from(r)).powi(2);
        den += f64::from(r).powi(2);
    }
    (num / den.max(1e-300)).sqrt()
}

#[test]
fn golden_tokenizer() {
    let tok = ClipTokenizer::new().unwrap();
    for dir in fixture_dirs() {
        let fx = Fixture::load(&dir);
        let case = fx.case("tok");
        let prompts = case["prompts"].as_array().unwrap();
        let mut failures = Vec::new();
        for (i, prompt) in prompts.iter().enumerate() {
            let prompt = prompt.as_str().unwrap();
            let (shape, expected) = fx.i64(&format!("tok.{i}"));
            assert_eq!(shape, vec![CONTEXT_LENGTH]);
            let got = tok.encode(prompt);
            if got[..] != expected[..] {
                failures.push(format!(
                    "tok.{i} {prompt:?}\n  cleaned: {:?}\n  got:      {:?}\n  expected: {:?}",
                    ClipTokenizer::clean(prompt),
                    &got[..],
                    &expected[..]
                ));
            }
        }
        println!("{}: tokenizer {}/{} exact", dir.display(), prompts.len() - failures.len(), prompts.len());
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

fn as_tensor(shape: &[usize], data: Vec<f32>) -> ImageTensor {
    assert_eq!(shape.len(), 4, "expected [1, C, H, W], got {shape:?}");
    assert_eq!(shape[0], 1);
    ImageTensor { channels: shape[1], height: shape[2], width: shape[3], data }
}

fn sizes_of(v: &Value) -> (usize, usize) {
    let a = v.as_array().unwrap();
    (a[0].as_u64().unwrap() as usize, a[1].as_u64().unwrap() as usize)
}

/// The reference's loading: PIL `Image.open(path).convert("RGB")`, no EXIF transpose.
fn reference_load(path: &Path) -> image::RgbImage {
    let opts = LoadOptions { apply_exif_orientation: false, ..LoadOptions::default() };
    load_image(path, &opts).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn golden_prep() {
    for dir in fixture_dirs() {
        let fx = Fixture::load(&dir);
        let case = fx.case("prep");
        let tol = case["tolerance"]["max_abs"].as_f64().unwrap_or(4.0 / 255.0) as f32;
        // the case's own size, else the fixture's frame size
        let size = |key: &str| {
            case[key]
                .as_u64()
                .or_else(|| fx.cases[key].as_u64())
                .unwrap_or_else(|| panic!("{}: no {key} in cases.json", dir.display())) as usize
        };
        let (h, w) = (size("height"), size("width"));
        let mut checks: Vec<(String, String, usize, usize)> = case["images"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, file)| (name.clone(), file.as_str().unwrap().to_owned(), h, w))
            .collect();
        // clipprep.<k>.in: input.png prepared at cases.clipprep.sizes[k]
        let cp = fx.case("clipprep");
        if let Some(sizes) = cp["sizes"].as_array() {
            let src = case["images"]["prep.frame"].as_str().unwrap_or("input.png");
            for (k, size) in sizes.iter().enumerate() {
                let (sh, sw) = sizes_of(size);
                checks.push((format!("clipprep.{k}.in"), src.to_owned(), sh, sw));
            }
        }
        for (name, file, th, tw) in checks {
            let img = reference_load(&dir.join(&file));
            let out = prepare_frame(&img, th, tw, FitMode::Reference, [0, 0, 0]);
            let (shape, reference) = fx.f32(&name);
            assert_eq!(shape, vec![1, 3, th, tw], "{name} shape");
            let err = max_abs(&out.data, &reference);
            let exact = out.data.iter().zip(&reference).filter(|(a, b)| a.to_bits() == b.to_bits()).count();
            println!(
                "{}: {name} ({file} -> {th}x{tw}): max abs {err:.3e} ({:.2}/255 on [0,1]), \
                 {exact}/{} bit-identical",
                dir.display(),
                err * 255.0 / 2.0,
                reference.len()
            );
            assert!(err <= tol, "{name}: max abs {err} > {tol}");
        }
    }
}

#[test]
fn golden_clip_preprocess() {
    for dir in fixture_dirs() {
        let fx = Fixture::load(&dir);
        let tol = fx.case("clipprep")["tolerance"]["rel_l2"].as_f64().unwrap_or(1e-4);
        let mut pairs = vec![("clip.in".to_owned(), "clip.prep".to_owned())];
        let n = fx.case("clipprep")["sizes"].as_array().map_or(0, Vec::len);
        for k in 0..n {
            pairs.push((format!("clipprep.{k}.in"), format!("clipprep.{k}.out")));
        }
        for (inp, outp) in pairs {
            let (shape, data) = fx.f32(&inp);
            let input = as_tensor(&shape, data);
            let out = clip_preprocess(&input).unwrap();
            let (rshape, reference) = fx.f32(&outp);
            assert_eq!(rshape, vec![1, 3, CLIP_IMAGE_SIZE, CLIP_IMAGE_SIZE]);
            let rel = rel_l2(&out.data, &reference);
            let err = max_abs(&out.data, &reference);
            println!("{}: {inp} {:?} -> {outp}: rel L2 {rel:.3e}, max abs {err:.3e}", dir.display(), input.shape());
            assert!(rel <= tol, "{outp}: rel L2 {rel} > {tol}");
        }
    }
}
