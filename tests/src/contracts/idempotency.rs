//! What every [`IdempotencyStore`] must do: claims expire, completion is kept
//! until its TTL, release frees only a claim in progress, and a key held for
//! another input's fingerprint is reused, never a duplicate.

use orderflow_batch::fingerprint::Fingerprint;
use orderflow_batch::ports::{Claim, ClaimRequest, Completion, IdempotencyStore};

fn fingerprint(text: &str) -> Fingerprint {
    Fingerprint::of(|f| {
        f.str(text);
    })
}

/// Runs every rule against `store`, which must be empty.
pub async fn check(store: &dyn IdempotencyStore) {
    claims_expire_complete_and_release(store).await;
    another_fingerprint_is_reused_never_a_duplicate(store).await;
    completing_many_keys_completes_each_and_answers_for_each(store).await;
    claiming_together_answers_as_claiming_each(store).await;
}

async fn claiming_together_answers_as_claiming_each(store: &dyn IdempotencyStore) {
    let keys: Vec<String> = (0..4).map(|i| format!("inventory#ord-together-{i}")).collect();
    let (fp, other) = (fingerprint("order"), fingerprint("another order"));
    // keys[1] in progress, keys[2] completed, keys[3] completed for another input.
    assert_eq!(
        store.claim(&keys[1], fp, 1000, 1060).await.unwrap(),
        Claim::Acquired
    );
    for (key, stored) in [(&keys[2], fp), (&keys[3], other)] {
        store
            .complete(
                Completion {
                    key,
                    fingerprint: stored,
                },
                90_000,
            )
            .await
            .unwrap();
    }
    let requests: Vec<ClaimRequest<'_>> = keys
        .iter()
        .map(|key| ClaimRequest { key, fingerprint: fp })
        .collect();
    let answers: Vec<Claim> = store
        .claim_all(&requests, 1001, 1061)
        .await
        .into_iter()
        .map(|answer| answer.expect("claimed"))
        .collect();
    assert_eq!(
        answers,
        [
            Claim::Acquired,
            Claim::InProgress,
            Claim::Completed,
            Claim::Reused
        ],
        "one answer a key, in order, each as a claim of its own would answer"
    );
    assert_eq!(
        store.claim(&keys[0], fp, 1002, 1062).await.unwrap(),
        Claim::InProgress,
        "and it holds"
    );
}

async fn claims_expire_complete_and_release(store: &dyn IdempotencyStore) {
    let fp = fingerprint("order");
    let done = |keep| async move {
        store
            .complete(
                Completion {
                    key: "k",
                    fingerprint: fp,
                },
                keep,
            )
            .await
    };
    store
        .release("never-claimed")
        .await
        .expect("releasing a key nobody holds is no error");
    assert_eq!(store.claim("k", fp, 1000, 1060).await.unwrap(), Claim::Acquired);
    assert_eq!(store.claim("k", fp, 1030, 1090).await.unwrap(), Claim::InProgress);
    assert_eq!(
        store.claim("k", fp, 1059, 1119).await.unwrap(),
        Claim::InProgress,
        "held until the second it expires"
    );
    assert_eq!(
        store.claim("k", fp, 1060, 1120).await.unwrap(),
        Claim::Acquired,
        "an expired claim is taken over"
    );
    done(90_000).await.unwrap();
    assert_eq!(store.claim("k", fp, 2000, 2060).await.unwrap(), Claim::Completed);
    assert_eq!(
        store.claim("k", fp, 89_999, 90_059).await.unwrap(),
        Claim::Completed,
        "kept until its TTL"
    );
    assert_eq!(
        store.claim("k", fp, 90_000, 90_060).await.unwrap(),
        Claim::Acquired,
        "past its TTL"
    );
    store.release("k").await.unwrap();
    assert_eq!(
        store.claim("k", fp, 90_001, 90_060).await.unwrap(),
        Claim::Acquired,
        "released"
    );
    done(99_999).await.unwrap();
    store.release("k").await.unwrap();
    assert_eq!(
        store.claim("k", fp, 90_002, 90_060).await.unwrap(),
        Claim::Completed,
        "release never removes a completed record"
    );
}

async fn another_fingerprint_is_reused_never_a_duplicate(store: &dyn IdempotencyStore) {
    let (alice, mallory) = (fingerprint("alice's order"), fingerprint("mallory's order"));
    let key = "inventory#ord-reused";
    assert_eq!(
        store.claim(key, alice, 1000, 1060).await.unwrap(),
        Claim::Acquired
    );
    assert_eq!(
        store.claim(key, mallory, 1001, 1061).await.unwrap(),
        Claim::Reused,
        "held in progress for another input"
    );
    let results = store
        .complete_all(
            &[Completion {
                key,
                fingerprint: alice,
            }],
            90_000,
        )
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        store.claim(key, mallory, 2000, 2060).await.unwrap(),
        Claim::Reused,
        "completed for another input"
    );
    assert_eq!(
        store.claim(key, alice, 2000, 2060).await.unwrap(),
        Claim::Completed
    );
    assert_eq!(
        store.claim(key, mallory, 90_000, 90_060).await.unwrap(),
        Claim::Acquired,
        "past its TTL the key is free again"
    );
}

async fn completing_many_keys_completes_each_and_answers_for_each(store: &dyn IdempotencyStore) {
    let keys: Vec<String> = (0..3).map(|i| format!("shipping#ord-many-{i}")).collect();
    let fingerprints: Vec<Fingerprint> = keys.iter().map(|k| fingerprint(k)).collect();
    // One claimed first, the others completed without a claim (a batch settles both).
    assert_eq!(
        store.claim(&keys[0], fingerprints[0], 1000, 1060).await.unwrap(),
        Claim::Acquired
    );
    let completions: Vec<Completion<'_>> = keys
        .iter()
        .zip(&fingerprints)
        .map(|(key, fingerprint)| Completion {
            key,
            fingerprint: *fingerprint,
        })
        .collect();
    let results = store.complete_all(&completions, 90_000).await;
    assert_eq!(results.len(), keys.len(), "one result per key: {results:?}");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    for (key, fingerprint) in keys.iter().zip(&fingerprints) {
        assert_eq!(
            store.claim(key, *fingerprint, 1001, 1061).await.unwrap(),
            Claim::Completed,
            "{key} is completed with its own fingerprint"
        );
    }
    assert_eq!(
        store.claim(&keys[1], fingerprints[2], 1001, 1061).await.unwrap(),
        Claim::Reused,
        "each key keeps its own fingerprint, not another key's"
    );
}
