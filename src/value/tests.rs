//! Unit tests of the object pool and of dropping deep graphs.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::drop::{FREE_LIST, FREE_LIST_KEEP};
use super::pool::{POOL, POOL_BUFFERS, POOL_OBJECTS};
use super::*;

/// Every allocation in this thread's pool owns nothing and is unique, and every
/// list is within its bound (what `from_data`, `build_plain` and `build_array`
/// rely on).
fn check_pool() -> (usize, usize, usize) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        assert!(p.objects.len() <= POOL_OBJECTS);
        for rc in &mut p.objects {
            assert!(matches!(
                Rc::get_mut(rc).map(RefCell::get_mut),
                Some(ObjectData::BooleanObject(false))
            ));
        }
        for (i, list) in p.plain.iter_mut().enumerate() {
            assert!(list.len() <= POOL_BUFFERS);
            for rc in list {
                match Rc::get_mut(rc).map(RefCell::get_mut) {
                    Some(ObjectData::Plain(m)) => {
                        assert!(m.entries.is_empty() && m.index.is_none());
                        assert_eq!(m.entries.capacity(), i + 1);
                    }
                    _ => panic!("a pooled plain object is not an empty plain object"),
                }
            }
        }
        for (i, list) in p.arrays.iter_mut().enumerate() {
            assert!(list.len() <= POOL_BUFFERS);
            for rc in list {
                match Rc::get_mut(rc).map(RefCell::get_mut) {
                    Some(ObjectData::Array(a)) => {
                        assert!(a.elements.is_empty() && a.props.is_none() && a.length == 0);
                        assert_eq!(a.elements.capacity(), i + 1);
                    }
                    _ => panic!("a pooled array is not an empty array"),
                }
            }
        }
        for (i, list) in p.entries.iter().enumerate() {
            assert!(list.len() <= POOL_BUFFERS);
            for v in list {
                assert!(v.is_empty());
                assert_eq!(v.capacity(), i + 1);
            }
        }
        (p.objects.len(), p.plain[0].len(), p.arrays[0].len())
    })
}

/// The work list is empty and small between drops.
fn check_free_list() {
    FREE_LIST.with(|c| {
        let v = c.take();
        assert!(v.is_empty());
        assert!(v.capacity() <= FREE_LIST_KEEP);
        c.set(v);
    });
}

/// Dropping a deep graph goes through the pool: its allocations are recycled
/// (up to the bounds) with the pool's invariants kept, and then reused.
#[test]
fn deep_drop_recycles_into_the_pool() {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let mut v = Value::Null;
            for i in 0..100_000u32 {
                let o = if i % 3 == 0 {
                    Object::build_plain(1, |out| {
                        out.push((JsString::from("k"), v));
                        Ok::<(), ()>(())
                    })
                    .unwrap()
                } else if i % 3 == 1 {
                    Object::build_array(1, 1, |out| {
                        out.push(Some(v));
                        Ok::<_, ()>(None)
                    })
                    .unwrap()
                } else {
                    Object::new_map([(Value::from(i), v)])
                };
                v = Value::from(o);
            }
            drop(v);
            let (objects, plain, arrays) = check_pool();
            assert_eq!(
                (objects, plain, arrays),
                (POOL_OBJECTS, POOL_BUFFERS, POOL_BUFFERS)
            );
            check_free_list();
            // A recycled plain object of one property is reused as is.
            let addr = POOL.with(|p| p.borrow().plain[0].last().map(|rc| Rc::as_ptr(rc) as usize));
            let o = Object::build_plain(1, |out| {
                out.push((JsString::from("x"), Value::from(1)));
                Ok::<(), ()>(())
            })
            .unwrap();
            assert_eq!(Some(o.addr()), addr);
            assert_eq!(check_pool().1, POOL_BUFFERS - 1);
            drop(o);
            assert_eq!(check_pool().1, POOL_BUFFERS);
            // Views and FileLists are emptied too (their allocations are kept).
            let ab = Object::new_array_buffer(vec![0; 8]);
            let view = Object::new_typed_array(ViewKind::Uint8, &ab, 0, None).unwrap();
            drop(ab);
            let list = Object::new_file_list(vec![view]);
            drop(list);
            check_pool();
            check_free_list();
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Under a borrowed pool (a drop while the pool is in use cannot happen, but the
/// code must not rely on it) and a taken work list, freeing still works.
#[test]
fn drop_with_pool_and_free_list_busy() {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let mut v = Value::Null;
            for _ in 0..100_000 {
                v = Value::from(Object::new_array(vec![v]));
            }
            let held = FREE_LIST.with(Cell::take);
            POOL.with(|p| {
                let _busy = p.borrow_mut();
                drop(v);
            });
            FREE_LIST.with(|c| c.set(held));
            check_pool();
            check_free_list();
        })
        .unwrap()
        .join()
        .unwrap();
}

/// `trim_pool` frees every pooled allocation (and the pool fills again afterwards).
#[test]
fn trim_pool_empties_the_pool() {
    std::thread::spawn(|| {
        let values: Vec<Value> = (0..300u32)
            .map(|i| Value::from(Object::new_map([(Value::from(i), Value::Null)])))
            .collect();
        drop(values);
        assert_eq!(check_pool().0, POOL_OBJECTS);
        super::trim_pool();
        assert_eq!(check_pool(), (0, 0, 0));
        POOL.with(|p| {
            let p = p.borrow();
            assert!(p.entries.iter().all(Vec::is_empty));
            assert!(p.plain.iter().chain(p.arrays.iter()).all(Vec::is_empty));
        });
        drop(Value::from(Object::new_map([(Value::Null, Value::Null)])));
        assert_eq!(check_pool().0, 1);
    })
    .join()
    .unwrap();
}
