//! Decoding an input image from arbitrary bytes (the clipboard and drag-and-drop path; files
//! take the same decoder): size and aspect checks from the header, then decoding, then the
//! fit to the model's size. Small pixel limits keep each execution fast.
#![no_main]

use dynamicrafter_studio::imaging::load::{LoadOptions, decode_image_bytes};

use dynamicrafter_studio::pipeline::preprocess::{FitMode, prepare_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = LoadOptions { max_side: 2048, max_pixels: 1 << 20, ..LoadOptions::default() };
    if let Ok(img) = decode_image_bytes(data, "fuzz input", &opts) {
        let t = prepare_frame(&img, 16, 24, FitMode::Reference, [0, 0, 0]);
        assert!(t.is_consistent());
    }
});
