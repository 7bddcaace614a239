//! Stacking: a lexical branch (TF-IDF words and word pairs, a logistic regression per genre)
//! beside a trained bundle's model, and the per-genre blend of their logits. Both are fitted
//! after the model (`marquee stack`), stored as the bundle's `lexical.safetensors` part and its
//! manifest's [`lexical::LexicalSpec`], and applied by [`crate::inference::Predictor`].

pub mod blend;
pub mod lexical;
