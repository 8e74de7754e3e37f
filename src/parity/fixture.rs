//! A golden-fixture directory (`../shared/fixtures/README.md` §1): `config.json`,
//! `cases.json`, `golden.safetensors`, `model.ckpt` and the input images.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

use crate::model::config::ModelConfig;

/// Errors reading a fixture.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("golden file {path}: {msg}")]
    Golden { path: PathBuf, msg: String },
    #[error("golden tensor `{name}`: {msg}")]
    Tensor { name: String, msg: String },
    #[error(transparent)]
    Config(#[from] crate::model::config::ConfigError),
    #[error("cases.json: {0}")]
    Cases(String),
    /// The backend cannot run the requested precision or plan.
    #[error("{0}")]
    Runtime(String),
}

/// A loaded fixture directory.
#[derive(Debug)]
pub struct Fixture {
    pub dir: PathBuf,
    pub config_json: Value,
    /// The DynamiCrafter model of the fixture; `None` for other kinds (`"kind": "rife"`).
    pub config: Option<ModelConfig>,
    pub cases: Value,
    golden: Vec<u8>,
    golden_path: PathBuf,
}

fn read_json(path: &Path) -> Result<Value, FixtureError> {
    let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Io { path: path.into(), source })?;
    serde_json::from_str(&text).map_err(|source| FixtureError::Json { path: path.into(), source })
}

/// A host copy of a golden tensor.
#[derive(Debug, Clone)]
pub struct HostTensor<T> {
    pub shape: Vec<usize>,
    pub data: Vec<T>,
}

impl Fixture {
    /// Opens `dir`.
    pub fn open(dir: &Path) -> Result<Self, FixtureError> {
        let config_json = read_json(&dir.join("config.json"))?;
        let config = match Self::kind_of(&config_json) {
            "dynamicrafter" => Some(ModelConfig::from_fixture_json(&config_json)?),
            _ => None,
        };
        let cases = read_json(&dir.join("cases.json"))?;
        let golden_path = dir.join("golden.safetensors");
        let golden =
            std::fs::read(&golden_path).map_err(|source| FixtureError::Io { path: golden_path.clone(), source })?;
        SafeTensors::deserialize(&golden)
            .map_err(|e| FixtureError::Golden { path: golden_path.clone(), msg: e.to_string() })?;
        Ok(Self { dir: dir.into(), config_json, config, cases, golden, golden_path })
    }

    /// `config.json` → `kind`: `dynamicrafter` (the default, the shared fixtures' schema)
    /// or `rife` (`tests/fixtures/rife-*`).
    fn kind_of(config_json: &Value) -> &str {
        config_json.get("kind").and_then(Value::as_str).unwrap_or("dynamicrafter")
    }

    /// This fixture's kind (see [`Self::kind_of`]).
    pub fn kind(&self) -> &str {
        Self::kind_of(&self.config_json)
    }

    /// A top-level integer of `config.json` (`frames`, `height`, …).
    pub fn size(&self, key: &str) -> Result<usize, FixtureError> {
        self.config_json
            .get(key)
            .and_then(Value::as_u64)
            .map(|v| v as usize)
            .ok_or_else(|| FixtureError::Cases(format!("config.json lacks `{key}`")))
    }

    /// The case entries, in file order.
    pub fn case_list(&self) -> Vec<(String, Value)> {
        match self.cases.get("cases").and_then(Value::as_object) {
            Some(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            None => Vec::new(),
        }
    }

    /// Whether the golden file has `name`.
    pub fn has(&self, name: &str) -> bool {
        SafeTensors::deserialize(&self.golden).map(|st| st.tensor(name).is_ok()).unwrap_or(false)
    }

    fn raw(&self, name: &str) -> Result<(Dtype, Vec<usize>, Vec<u8>), FixtureError> {
        let st = SafeTensors::deserialize(&self.golden)
            .map_err(|e| FixtureError::Golden { path: self.golden_path.clone(), msg: e.to_string() })?;
        let view = st
            .tensor(name)
            .map_err(|_| FixtureError::Tensor { name: name.into(), msg: "not in golden.safetensors".into() })?;
        Ok((view.dtype(), view.shape().to_vec(), view.data().to_vec()))
    }

    /// A float tensor (f32 or f64 storage) as f32.
    pub fn f32(&self, name: &str) -> Result<HostTensor<f32>, FixtureError> {
        let (dtype, shape, bytes) = self.raw(name)?;
        let data = match dtype {
            Dtype::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F64 => self.f64(name)?.data.iter().map(|v| *v as f32).collect(),
            other => {
                return Err(FixtureError::Tensor {
                    name: name.into(),
                    msg: format!("expected a float tensor, found {other:?}"),
                });
            }
        };
        Ok(HostTensor { shape, data })
    }

    /// A float64 tensor.
    pub fn f64(&self, name: &str) -> Result<HostTensor<f64>, FixtureError> {
        let (dtype, shape, bytes) = self.raw(name)?;
        match dtype {
            Dtype::F64 => Ok(HostTensor {
                shape,
                data: bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect(),
            }),
            Dtype::F32 => Ok(HostTensor {
                shape,
                data: bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect(),
            }),
            other => Err(FixtureError::Tensor { name: name.into(), msg: format!("expected float64, found {other:?}") }),
        }
    }

    /// An int64 tensor.
    pub fn i64(&self, name: &str) -> Result<HostTensor<i64>, FixtureError> {
        let (dtype, shape, bytes) = self.raw(name)?;
        match dtype {
            Dtype::I64 => Ok(HostTensor {
                shape,
                data: bytes.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect(),
            }),
            other => Err(FixtureError::Tensor { name: name.into(), msg: format!("expected int64, found {other:?}") }),
        }
    }

    /// A float golden as a device tensor of rank `D`.
    pub fn tensor<const D: usize>(&self, name: &str, device: &Device) -> Result<Tensor<D>, FixtureError> {
        let t = self.f32(name)?;
        let shape: [usize; D] = t.shape.clone().try_into().map_err(|_| FixtureError::Tensor {
            name: name.into(),
            msg: format!("expected rank {D}, found {:?}", t.shape),
        })?;
        Ok(Tensor::from_data(TensorData::new(t.data, shape), device))
    }

    /// An int64 golden as a device tensor of rank `D`.
    pub fn int_tensor<const D: usize>(&self, name: &str, device: &Device) -> Result<Tensor<D, Int>, FixtureError> {
        let t = self.i64(name)?;
        let shape: [usize; D] = t.shape.clone().try_into().map_err(|_| FixtureError::Tensor {
            name: name.into(),
            msg: format!("expected rank {D}, found {:?}", t.shape),
        })?;
        Ok(Tensor::from_data(TensorData::new(t.data, shape), device))
    }
}
