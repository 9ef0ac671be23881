//! Shared by the targets that feed any bytes to a script's decoder
//! (`JSON.decode`, `YAML.decode`, `crypto.JWT`) as a request body: the callback must answer,
//! with a value or an exception, and never take the process down.

use proxy_js::{Host, HostOptions, Source};

thread_local! {
    static CHECK: std::cell::RefCell<Option<(proxy_core::Program, Host)>> = const { std::cell::RefCell::new(None) };
}

/// Runs `decoder(m.body)` (`JSON.decode`, say) on `data` in a script callback.
pub fn run(decoder: &str, data: &[u8]) {
    CHECK.with(|c| {
        let mut c = c.borrow_mut();
        let (program, _host) = c.get_or_insert_with(|| {
            let script = format!(
                "pipy().pipeline('decode').replaceMessage(m => {{ \
                 try {{ {decoder}(m.body); return new Message('ok'); }} catch (e) {{ return new Message('err'); }} }})"
            );
            Host::load(&Source::Eval(script), &HostOptions::default()).expect("the script loads")
        });
        let layout = program.modules[0].pipelines.iter().find(|(n, _)| n.contains("decode")).unwrap().1.clone();
        let out = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let o = out.clone();
        let p = proxy_core::Pipeline::new(
            &layout,
            proxy_core::Context::new(None),
            proxy_core::Sink::Func(Box::new(move |ev| o.borrow_mut().push(ev))),
        );
        for ev in proxy_core::Message::new(proxy_core::Head::None, data.to_vec()).into_events() {
            p.input(ev);
        }
        let answered = out.borrow().iter().any(|e| matches!(e, proxy_core::Event::Data(d) if d.len() <= 3));
        assert!(answered, "the callback answered");
    });
}
